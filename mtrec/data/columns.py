"""A table's columns as mtrec's arrays: ids encoded into vocabularies, numbers, timestamps.

Every conversion is vectorised (pyarrow compute, numpy). A bad cell is found afterwards, only
when a conversion fails, by bisecting the column with the same conversion (about 2n work), and
reported by file, column and row.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mtrec.data.files import TableFile
from mtrec.data.interactions import DataError

Column: TypeAlias = "pa.Array | pa.ChunkedArray"


def _is_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def first_failure(column: Column, convert: Callable[[Column], object]) -> int:
    """The first row of ``column`` that ``convert`` refuses (``convert(column)`` must have failed)."""
    lo, hi = 0, len(column)  # A refused row lies in [lo, hi).
    while hi - lo > 1:
        mid = (lo + hi) // 2
        try:
            convert(column.slice(lo, mid - lo))
            lo = mid
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            hi = mid
    return lo


def require_values(column: Column, file: TableFile, name: str, role: str) -> None:
    """Raises DataError naming the first empty cell of ``column``, if any."""
    if column.null_count:
        row = int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
        raise DataError(f"{file.where(row)}: column {name!r} ({role}) is empty")


def _text_to_float(column: Column) -> Column:
    column = pc.utf8_trim_whitespace(column)
    try:
        return pc.cast(column, pa.float64())
    except pa.ArrowInvalid:  # "true"/"false" flags
        return pc.cast(pc.cast(column, pa.bool_()), pa.float64())


def numbers(column: Column, file: TableFile, name: str, role: str) -> np.ndarray:
    """[n] float64 of a numeric, boolean or text column (no empty cells).

    Raises:
      DataError: an empty cell, a cell that is not a (finite) number, a column of another type.
    """
    require_values(column, file, name, role)
    t = column.type
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t) or pa.types.is_decimal(t):
        values = pc.cast(column, pa.float64())
    elif _is_text(t):
        try:
            values = _text_to_float(column)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            row = first_failure(column, _text_to_float)
            raise DataError(
                f"{file.where(row)}: column {name!r} ({role}): {column[row].as_py()!r} is not a number"
            ) from None
    else:
        raise DataError(f"{file.path}: column {name!r} ({role}) holds {t}, not numbers")
    out = values.to_numpy()
    bad = np.flatnonzero(~np.isfinite(out))
    if len(bad):
        raise DataError(
            f"{file.where(int(bad[0]))}: column {name!r} ({role}): {out[bad[0]]} is not a finite number"
        )
    return out


def check_range(
    values: np.ndarray, bounds: Sequence[float] | None, file: TableFile, name: str, key: str
) -> None:
    """Raises DataError naming the first value outside ``bounds`` ([low, high], inclusive)."""
    if bounds is None:
        return
    low, high = bounds
    bad = np.flatnonzero((values < low) | (values > high))
    if len(bad):
        raise DataError(
            f"{file.where(int(bad[0]))}: column {name!r}: {values[bad[0]]:g} is outside {key} "
            f"[{low:g}, {high:g}]"
        )


# Text timestamps: Unix seconds, or ISO 8601 without a zone (read as UTC) or with one.
_TEXT_TIMES: tuple[pa.DataType, ...] = (pa.int64(), pa.timestamp("s"), pa.timestamp("s", "UTC"))


def timestamps(column: Column, file: TableFile, name: str) -> np.ndarray:
    """[n] int64 Unix seconds of an integer, float, date, timestamp or text column.

    Text is Unix seconds or ISO 8601 (``2024-03-01``, ``2024-03-01 12:00:00``,
    ``2024-03-01T12:00:00+01:00``); the first cell decides which, and every cell must match.

    Raises:
      DataError: an empty cell or one that does not parse, naming the row.
    """
    require_values(column, file, name, "timestamp")
    t = column.type
    if pa.types.is_integer(t):
        return pc.cast(column, pa.int64()).to_numpy()
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return np.floor(numbers(column, file, name, "timestamp")).astype(np.int64)
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        seconds = pa.timestamp("s", getattr(t, "tz", None))
        return pc.cast(pc.cast(column, seconds, safe=False), pa.int64()).to_numpy()
    if not _is_text(t):
        raise DataError(f"{file.path}: column {name!r} (timestamp) holds {t}, not times")
    column = pc.utf8_trim_whitespace(column)
    first = column.slice(0, 1)
    for target in _TEXT_TIMES:
        try:
            pc.cast(first, target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
        break

    def parse(values: Column) -> Column:
        return pc.cast(pc.cast(values, target), pa.int64())

    try:
        return parse(column).to_numpy()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        row = first_failure(column, parse)
        raise DataError(
            f"{file.where(row)}: column {name!r} (timestamp): {column[row].as_py()!r} is neither Unix "
            "seconds nor an ISO 8601 time like 2024-03-01 12:00:00"
        ) from None


def as_text(column: Column) -> np.ndarray:
    """[n] str of a column (its values' text: 7 -> "7")."""
    return np.asarray(pc.cast(column, pa.string()).to_numpy(zero_copy_only=False), dtype=str)


def encode(column: Column, candidates: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Ids of any type -> the tutorial's vocabulary (sorted unique strings) and 1-based indices.

    Hashes the column once (pyarrow's dictionary encoding); only the distinct ids become strings,
    so the result equals :func:`~mtrec.data.interactions.from_strings`'s without a string a row.

    Args:
      column: [n] ids, no empty cells.
      candidates: [c] further ids (str) that join the vocabulary without a row (catalog items).

    Returns:
      (vocabulary [v] str, indices [n] int32 in 1..v).
    """
    chunks = pa.chunked_array([column]) if isinstance(column, pa.Array) else column
    encoded = pc.dictionary_encode(chunks).unify_dictionaries()
    if encoded.num_chunks == 0:
        return np.array([], dtype=str), np.array([], dtype=np.int32)
    distinct = as_text(encoded.chunk(0).dictionary)
    vocab = np.unique(distinct if candidates is None else np.concatenate([candidates, distinct]))
    position = (np.searchsorted(vocab, distinct) + 1).astype(np.int32)
    indices = np.concatenate([c.indices.to_numpy(zero_copy_only=False) for c in encoded.chunks])
    return vocab, position[indices]
