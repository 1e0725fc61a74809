"""Reading a table's files with pyarrow: one CSV, TSV or Parquet file, or a folder of them.

Only the columns asked for are read, each file whole by pyarrow's multi-threaded readers (CSV in
blocks, Parquet by row group), never a Python object per row. CSV and TSV cells are read as text
and converted by :mod:`mtrec.data.columns`, so that a bad cell is reported by row, not by
pyarrow's block-relative positions. Every error names the file.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from mtrec.data.interactions import DataError

# File name ending -> format; a folder is read file by file, in name order.
FORMATS = {".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet"}


@dataclass(frozen=True)
class TableFile:
    """One file of a table, and where its rows start in the concatenated table."""

    path: Path
    format: str
    first_row: int = 0

    def where(self, row: int) -> str:
        """``row`` (0-based, in this file) as a user finds it: CSV rows also by line (header: 1)."""
        if self.format == "parquet":
            return f"{self.path}: row {row + 1}"
        return f"{self.path}: row {row + 1} (line {row + 2})"


def locate(files: Sequence[TableFile], row: int) -> str:
    """A row of the files' concatenated table (0-based), as its own file's :meth:`TableFile.where`."""
    i = bisect.bisect_right([f.first_row for f in files], row) - 1
    return files[i].where(row - files[i].first_row)


def list_files(path: str | Path, file_format: str | None, what: str) -> list[TableFile]:
    """The files a table is read from: ``path`` itself, or a folder's files in name order.

    Args:
      path: a file, or a folder of files of the same columns.
      file_format: ``csv``, ``tsv`` or ``parquet``; None takes each file's from its name's ending.
      what: the config key that named ``path``, for the messages (``dataset.path``).

    Raises:
      DataError: a missing path, a folder without table files, an unknown ending.
    """
    root = Path(path).expanduser()
    if root.is_dir():
        found = sorted(p for p in root.iterdir() if p.is_file() and not p.name.startswith((".", "_")))
        found = [p for p in found if file_format or p.suffix.lower() in FORMATS]
        if not found:
            raise DataError(f"{what}={path}: the folder has no {', '.join(sorted(set(FORMATS)))} file")
    elif root.is_file():
        found = [root]
    else:
        raise DataError(f"{what}={path}: no such file or folder")
    files = []
    for p in found:
        fmt = file_format or FORMATS.get(p.suffix.lower())
        if fmt is None:
            raise DataError(
                f"{p}: unknown file type {p.suffix!r}; name it .csv, .tsv or .parquet, or set the format "
                "(dataset.format=csv|tsv|parquet)"
            )
        files.append(TableFile(p, fmt))
    return files


def _csv_options(fmt: str, encoding: str, columns: Sequence[str] | None, numeric: Sequence[str] = ()):
    import pyarrow.csv as pacsv

    read = pacsv.ReadOptions(encoding=encoding, block_size=1 << 24)
    parse = pacsv.ParseOptions(delimiter="\t" if fmt == "tsv" else ",")
    convert = pacsv.ConvertOptions(
        column_types={c: pa.float64() if c in numeric else pa.string() for c in columns or ()},
        include_columns=list(columns or ()),
        strings_can_be_null=True,
        null_values=[""],  # only an empty cell is missing: "NA" may be an id
        quoted_strings_can_be_null=False,
    )
    return read, parse, convert


def column_names(file: TableFile, encoding: str) -> list[str]:
    """The file's column names (a CSV's header line, a Parquet file's schema).

    Raises:
      DataError: an empty or unreadable file.
    """
    if file.path.stat().st_size == 0:
        raise DataError(f"{file.path}: the file is empty")
    try:
        if file.format == "parquet":
            import pyarrow.parquet as pq

            return list(pq.read_schema(file.path).names)
        import pyarrow.csv as pacsv

        with pacsv.open_csv(file.path, *_csv_options(file.format, encoding, None)[:2]) as reader:
            return list(reader.schema.names)
    except (pa.ArrowException, OSError, UnicodeDecodeError, LookupError) as e:
        raise DataError(f"{file.path}: cannot be read as {file.format} ({_first_line(e)})") from None


def read_columns(
    file: TableFile, columns: Sequence[str], encoding: str, what: str, numeric: Sequence[str] = ()
) -> pa.Table:
    """The named columns of one file (CSV and TSV cells as text; missing cells null).

    Args:
      file: the file.
      columns: the columns to read; each must exist.
      numeric: of ``columns``, those a CSV's parser may convert to float64 itself (faster than
        text, then a cast: 25M rows); if any cell refuses, the file is read again all as text,
        so that :mod:`mtrec.data.columns` names the bad cell.
      encoding: a CSV's or TSV's text encoding (Parquet stores its own).
      what: the config section that mapped the columns (``dataset.columns``), for the messages.

    Raises:
      DataError: a mapped column the file lacks (the message lists those it has), an empty or
        unreadable file.
    """
    names = column_names(file, encoding)
    for role_column in columns:
        if role_column not in names:
            raise DataError(
                f"{file.path}: no column {role_column!r} (mapped in {what}); its columns are "
                f"{', '.join(repr(n) for n in names)}"
            )
    try:
        if file.format == "parquet":
            import pyarrow.parquet as pq

            table = pq.read_table(file.path, columns=list(columns))
        else:
            import pyarrow.csv as pacsv

            try:
                table = pacsv.read_csv(file.path, *_csv_options(file.format, encoding, columns, numeric))
            except pa.ArrowInvalid:
                if not numeric:
                    raise
                table = pacsv.read_csv(file.path, *_csv_options(file.format, encoding, columns))
    except (pa.ArrowException, OSError, UnicodeDecodeError, LookupError) as e:
        raise DataError(f"{file.path}: cannot be read as {file.format} ({_first_line(e)})") from None
    if table.num_rows == 0:
        raise DataError(f"{file.path}: the file has no rows")
    return table


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def digest(files: Sequence[TableFile]) -> str:
    """sha256 of the table's bytes: a single file's own (what ``sha256sum FILE`` prints); for a
    folder, of its files' names and sha256s, one ``name sha256`` line each in name order."""
    sums = []
    for file in files:
        with file.path.open("rb") as f:
            sums.append((file.path.name, hashlib.file_digest(f, "sha256").hexdigest()))
    if len(sums) == 1:
        return sums[0][1]
    return hashlib.sha256("".join(f"{name} {h}\n" for name, h in sums).encode()).hexdigest()
