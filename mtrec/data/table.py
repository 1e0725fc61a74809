"""Your own interactions: a CSV, TSV or Parquet table (or a folder of them) -> :class:`Interactions`.

The columns are mapped by name (:class:`TableSpec`): a user and an item column (ids of any type,
strings at the model's edges, as MovieLens's), optionally a rating, a timestamp and further
numeric label columns, and optional item and user catalogs (:mod:`mtrec.data.catalog`) whose
features become the side-feature tables. The vocabularies are the tutorial's (sorted unique
strings, 1-based indices), so MovieLens written as a table gives the very arrays of
:func:`~mtrec.data.grouplens.read_grouplens`. Files are read by pyarrow, ids hashed once; no
Python object is made per row. Bad input names the file, the column and the first offending row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import pyarrow as pa

from mtrec.data import columns
from mtrec.data.catalog import Catalog, CatalogTable, align, read_catalog
from mtrec.data.files import TableFile, digest, list_files, locate, read_columns
from mtrec.data.interactions import DataError, Interactions

DUPLICATES = ("error", "keep", "drop")
"""What a repeated (user, item) pair does: stop naming it, stay as it is, or leave only the
latest row of each pair (largest timestamp; the last row on ties or without timestamps)."""


@dataclass(frozen=True)
class TableSpec:
    """Where the table is and what its columns mean.

    Attributes:
      path: a CSV, TSV or Parquet file, or a folder of files with the same columns.
      user, item: the id columns.
      rating: the rating column; None: every row is a positive interaction (rating 1).
      timestamp: the time column (Unix seconds, ISO 8601 text, a date or a timestamp type); None:
        row numbers stand in for times.
      labels: further numeric columns kept as ``Interactions.columns`` (a click flag, a watch time).
      rating_range: [low, high], inclusive: a rating outside it is an error; None: unchecked.
      label_ranges: label column -> [low, high], likewise.
      duplicates: one of :data:`DUPLICATES`.
      file_format: ``csv``, ``tsv`` or ``parquet``; None: from each file's name.
      encoding: the text encoding of CSV and TSV files.
      items, users: the catalogs, if any.
    """

    path: str
    user: str
    item: str
    rating: str | None = None
    timestamp: str | None = None
    labels: Sequence[str] = ()
    rating_range: Sequence[float] | None = None
    label_ranges: Mapping[str, Sequence[float]] = field(default_factory=dict)
    duplicates: str = "error"
    file_format: str | None = None
    encoding: str = "utf-8"
    items: Catalog | None = None
    users: Catalog | None = None


@dataclass
class _Columns:
    """The table's columns read file by file: ids as arrow arrays, values as numpy."""

    user: list[pa.ChunkedArray] = field(default_factory=list)
    item: list[pa.ChunkedArray] = field(default_factory=list)
    rating: list[np.ndarray] = field(default_factory=list)
    timestamp: list[np.ndarray] = field(default_factory=list)
    labels: dict[str, list[np.ndarray]] = field(default_factory=dict)


KEY = "dataset.columns"


def _read_file(spec: TableSpec, file: TableFile, out: _Columns) -> int:
    """Reads and checks one file's columns into ``out``; returns its row count."""
    wanted = [spec.user, spec.item, spec.rating, spec.timestamp, *spec.labels]
    # A column also mapped as an id or time stays text: 7 must not become "7.0".
    numeric = [
        c for c in (spec.rating, *spec.labels) if c and c not in (spec.user, spec.item, spec.timestamp)
    ]
    table = read_columns(file, list(dict.fromkeys(c for c in wanted if c)), spec.encoding, KEY, numeric)
    for name, role in ((spec.user, "user"), (spec.item, "item")):
        columns.require_values(table.column(name), file, name, f"{KEY}.{role}")
    out.user.append(table.column(spec.user))
    out.item.append(table.column(spec.item))
    if spec.rating:
        rating = columns.numbers(table.column(spec.rating), file, spec.rating, f"{KEY}.rating")
        columns.check_range(rating, spec.rating_range, file, spec.rating, f"{KEY}.rating_range")
        out.rating.append(rating)
    if spec.timestamp:
        out.timestamp.append(columns.timestamps(table.column(spec.timestamp), file, spec.timestamp))
    for name in spec.labels:
        values = columns.numbers(table.column(name), file, name, f"{KEY}.labels")
        columns.check_range(values, spec.label_ranges.get(name), file, name, f"{KEY}.label_ranges.{name}")
        out.labels.setdefault(name, []).append(values)
    return table.num_rows


def _ids(parts: list[pa.ChunkedArray]) -> pa.ChunkedArray:
    """One column of ids from each file's; as text when the files' types differ (7 and "7" meet)."""
    if len({p.type for p in parts}) > 1:
        parts = [p.cast(pa.string()) for p in parts]
    return pa.chunked_array([c for p in parts for c in p.chunks], type=parts[0].type)


def _latest_rows(
    user: np.ndarray,
    item: np.ndarray,
    timestamp: np.ndarray | None,
    spec: TableSpec,
    files: list[TableFile],
    vocabs: tuple[np.ndarray, np.ndarray],
) -> tuple[np.ndarray | None, int]:
    """The rows to keep under ``spec.duplicates`` (None: all of them), and the repeated pairs' count.

    Raises:
      DataError: ``duplicates="error"`` and a pair appears twice (naming both rows).
    """
    keys = user.astype(np.int64) * (len(vocabs[1]) + 1) + item
    again = pd.Series(keys).duplicated(keep="first").to_numpy()
    repeated = int(again.sum())
    if not repeated or spec.duplicates == "keep":
        return None, repeated
    if spec.duplicates == "error":
        row = int(np.flatnonzero(again)[0])
        first = int(np.flatnonzero(keys == keys[row])[0])
        pair = str(vocabs[0][user[row] - 1]), str(vocabs[1][item[row] - 1])
        raise DataError(
            f"{locate(files, row)}: user {pair[0]!r} and item {pair[1]!r} "
            f"again (first at {locate(files, first)}); set dataset.duplicates=keep (every row counts) or "
            "drop (only each pair's latest row stays)"
        )
    order = np.argsort(timestamp, kind="stable") if timestamp is not None else np.arange(len(keys))
    stays = np.ones(len(keys), dtype=bool)
    stays[order[pd.Series(keys[order]).duplicated(keep="last").to_numpy()]] = False
    return np.flatnonzero(stays), repeated


def _describe(prefix: str, path: str, files: list[TableFile], rows: int) -> dict[str, str]:
    return {
        f"{prefix}path": str(path),
        f"{prefix}files": str(len(files)),
        f"{prefix}rows": str(rows),
        f"{prefix}sha256": digest(files),
    }


def read_table(spec: TableSpec) -> Interactions:
    """Reads a table source into the tutorial's interactions, with catalogs' side features.

    Items that only a catalog lists are candidates too (in the movie vocabulary, without rows).

    Raises:
      DataError: a missing or unreadable file or column, an empty id, a rating, timestamp or
        label that does not parse or lies outside its range, colliding catalog ids, or a repeated
        (user, item) pair under ``duplicates="error"``: each naming file, column and row.
    """
    files = list_files(spec.path, spec.file_format, "dataset.path")
    read = _Columns()
    first_row = 0
    for i, file in enumerate(files):
        files[i] = replace(file, first_row=first_row)
        first_row += _read_file(spec, files[i], read)
    items = read_catalog(spec.items, spec.file_format, spec.encoding) if spec.items else None
    users = read_catalog(spec.users, spec.file_format, spec.encoding) if spec.users else None
    user_vocab, user = columns.encode(_ids(read.user))
    movie_vocab, movie = columns.encode(_ids(read.item), None if items is None else items.ids)
    timestamp = np.concatenate(read.timestamp) if spec.timestamp else None
    rating = np.concatenate(read.rating) if spec.rating else np.ones(first_row)
    kept, repeated = _latest_rows(user, movie, timestamp, spec, files, (user_vocab, movie_vocab))
    source = _describe("", spec.path, files, first_row) | {"duplicate_rows": str(repeated)}
    for prefix, catalog, table in (("items.", spec.items, items), ("users.", spec.users, users)):
        if catalog is not None and table is not None:
            source |= _describe(prefix, catalog.path, table.files, len(table.ids))
    data = Interactions(
        user_vocab=user_vocab,
        movie_vocab=movie_vocab,
        user=user,
        movie=movie,
        rating=rating.astype(np.float32),
        timestamp=timestamp if timestamp is not None else np.arange(first_row, dtype=np.int64),
        user_features=_features(user_vocab, users),
        movie_features=_features(movie_vocab, items),
        columns={name: np.concatenate(parts).astype(np.float32) for name, parts in read.labels.items()},
        source=source,
    )
    return data if kept is None else data.take(kept)


def _features(vocab: np.ndarray, catalog: CatalogTable | None) -> np.ndarray | None:
    """The side-feature table of a catalog with feature columns; None without one."""
    if catalog is None or catalog.features.shape[1] == 0:
        return None
    return align(vocab, catalog)
