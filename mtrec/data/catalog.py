"""Item and user catalogs of a table source: one row per id, feature columns -> a side-feature table.

A catalog's features feed the towers' side-feature switches (``model.movie_features``,
``model.user_features``) exactly as MovieLens's genres and demographics do: one float32 row per
vocabulary entry, row 0 (the out-of-vocabulary id) zeros. Each declared column becomes

- categorical: one-hot over its distinct values (sorted); an empty cell, all zeros;
- multi-valued (``Comedy|Drama``): multi-hot over its distinct values, split at the separator;
- numeric: one column, standardised over the catalog's rows (mean 0, standard deviation 1; an
  empty cell gets 0, the mean), so that a year or a price does not swamp the projection.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from mtrec.data import columns
from mtrec.data.files import TableFile, list_files, locate, read_columns
from mtrec.data.interactions import DataError


@dataclass(frozen=True)
class Catalog:
    """Where a catalog is and which of its columns are features.

    Attributes:
      path: a CSV, TSV or Parquet file, or a folder of them.
      id: the column of the ids the interactions' user (or item) column holds.
      categorical, multi_valued, numeric: the feature columns, by kind.
      separator: what separates a multi-valued cell's values.
      key: the config section, for the messages (``dataset.items``).
    """

    path: str
    id: str
    categorical: Sequence[str] = ()
    multi_valued: Sequence[str] = ()
    numeric: Sequence[str] = ()
    separator: str = "|"
    key: str = "dataset.items"

    @property
    def feature_columns(self) -> list[str]:
        return [*self.categorical, *self.multi_valued, *self.numeric]


@dataclass(frozen=True)
class CatalogTable:
    """A read catalog: ids [c] str, features [c, F] float32 (F may be 0), the files it came from."""

    ids: np.ndarray
    features: np.ndarray
    files: list[TableFile]


def _one_hot(codes: np.ndarray, width: int) -> np.ndarray:
    """[c] codes in 0..width (0: empty cell) -> [c, width] float32 one-hot (empty: zeros)."""
    out = np.zeros((len(codes), width + 1), np.float32)
    out[np.arange(len(codes)), codes] = 1.0
    return out[:, 1:]


def _categorical(column: pa.ChunkedArray) -> np.ndarray:
    valid = column.is_valid().to_numpy(zero_copy_only=False)
    codes = np.zeros(len(column), np.int64)
    if valid.any():
        _, codes[valid] = columns.encode(column.filter(column.is_valid()))
    return _one_hot(codes, int(codes.max(initial=0)))


def _multi_valued(column: pa.ChunkedArray, separator: str) -> np.ndarray:
    parts = pc.split_pattern(pc.cast(column, pa.string()), separator).combine_chunks()
    values, rows = pc.utf8_trim_whitespace(pc.list_flatten(parts)), pc.list_parent_indices(parts).to_numpy()
    keep = pc.and_(pc.is_valid(values), pc.not_equal(values, ""))
    values, rows = values.filter(keep), rows[keep.to_numpy(zero_copy_only=False)]
    out = np.zeros((len(column), 0), np.float32)
    if len(values):
        vocab, codes = columns.encode(values)
        out = np.zeros((len(column), len(vocab)), np.float32)
        out[rows, codes - 1] = 1.0
    return out


def _numeric(parts: Sequence[pa.ChunkedArray], files: Sequence[TableFile], name: str) -> np.ndarray:
    """[c, 1] float32 standardised values of one column, read file by file (errors name the row)."""
    values = []
    for column, file in zip(parts, files):
        valid = column.is_valid().to_numpy(zero_copy_only=False)
        filled = pc.fill_null(column, "0" if pa.types.is_string(column.type) else 0)
        got = columns.numbers(filled, file, name, "numeric feature").copy()  # arrow memory is read-only
        got[~valid] = np.nan
        values.append(got)
    out = np.concatenate(values)
    valid = ~np.isnan(out)
    if valid.any():
        spread = out[valid].std()
        out[valid] = (out[valid] - out[valid].mean()) / (spread if spread > 0 else 1.0)
    return np.nan_to_num(out, nan=0.0).astype(np.float32)[:, None]


def read_catalog(catalog: Catalog, file_format: str | None, encoding: str) -> CatalogTable:
    """Reads a catalog and encodes its features (columns in the order declared).

    Raises:
      DataError: a missing or unreadable file, a missing column, an empty id, two rows with the
        same id (naming both), a numeric feature that is not a number.
    """
    files = list_files(catalog.path, file_format, f"{catalog.key}.path")
    wanted = list(dict.fromkeys([catalog.id, *catalog.feature_columns]))
    tables = [read_columns(f, wanted, encoding, catalog.key) for f in files]
    offsets = np.cumsum([0] + [t.num_rows for t in tables])
    files = [replace(f, first_row=int(o)) for f, o in zip(files, offsets)]
    for file, table in zip(files, tables):
        columns.require_values(table.column(catalog.id), file, catalog.id, f"{catalog.key}.id")
    table = tables[0] if len(tables) == 1 else pa.concat_tables(tables, promote_options="permissive")
    ids = columns.as_text(table.column(catalog.id))
    again = np.flatnonzero(pd.Series(ids).duplicated().to_numpy())
    if len(again):
        second = int(again[0])
        first = int(np.flatnonzero(ids == ids[second])[0])
        raise DataError(
            f"{locate(files, second)}: column {catalog.id!r} ({catalog.key}.id): id {str(ids[second])!r} "
            f"collides with {locate(files, first)}; a catalog has one row per id"
        )
    blocks = [np.zeros((len(ids), 0), np.float32)]
    blocks += [_categorical(table.column(c)) for c in catalog.categorical]
    blocks += [_multi_valued(table.column(c), catalog.separator) for c in catalog.multi_valued]
    blocks += [_numeric([t.column(c) for t in tables], files, c) for c in catalog.numeric]
    return CatalogTable(ids=ids, features=np.concatenate(blocks, axis=1), files=files)


def align(vocab: np.ndarray, catalog: CatalogTable) -> np.ndarray:
    """[len(vocab) + 1, F] float32: row i + 1 is the catalog's row of ``vocab[i]`` (zeros when the
    catalog lacks it), row 0 zeros. ``vocab`` is sorted (the tutorial's vocabularies are)."""
    out = np.zeros((len(vocab) + 1, catalog.features.shape[1]), np.float32)
    position = np.searchsorted(vocab, catalog.ids)
    known = position < len(vocab)
    known[known] = vocab[position[known]] == catalog.ids[known]
    out[position[known] + 1] = catalog.features[known]
    return out
