"""Bad input to the table source: each one line naming the file, the column and the first bad row."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mtrec.data.catalog import Catalog
from mtrec.data.interactions import DataError
from mtrec.data.table import TableSpec, read_table

GOOD = (
    "user_id,item_id,rating,timestamp,clicked\n"
    "u1,i1,4,1700000000,1\nu2,i1,5,1700000100,0\nu2,i2,3,1700000200,1\n"
)


def _spec(path: Path, **kwargs) -> TableSpec:
    return TableSpec(str(path), "user_id", "item_id", "rating", "timestamp", labels=("clicked",), **kwargs)


def _line(text: str, line: int, new: str) -> str:
    """``text`` with its ``line`` (1-based, the header is 1) replaced by ``new``."""
    lines = text.splitlines()
    lines[line - 1] = new
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    "text,kwargs,message",
    [
        ("", {}, r"log\.csv: the file is empty$"),
        ("user_id,item_id,rating,timestamp,clicked\n", {}, r"log\.csv: the file has no rows$"),
        (
            GOOD.replace("rating", "stars", 1),
            {},
            r"log\.csv: no column 'rating' \(mapped in dataset\.columns\); its columns are "
            r"'user_id', 'item_id', "
            r"'stars', 'timestamp', 'clicked'$",
        ),
        (
            _line(GOOD, 3, ",i1,5,1700000100,0"),
            {},
            r"log\.csv: row 2 \(line 3\): column 'user_id' \(dataset\.columns\.user\) is empty$",
        ),
        (
            _line(GOOD, 4, "u2,,3,1700000200,1"),
            {},
            r"log\.csv: row 3 \(line 4\): column 'item_id' \(dataset\.columns\.item\) is empty$",
        ),
        (
            _line(GOOD, 3, "u2,i1,five,1700000100,0"),
            {},
            r"log\.csv: row 2 \(line 3\): column 'rating' \(dataset\.columns\.rating\): "
            r"'five' is not a number$",
        ),
        (
            _line(GOOD, 4, "u2,i2,,1700000200,1"),
            {},
            r"log\.csv: row 3 \(line 4\): column 'rating' \(dataset\.columns\.rating\) is empty$",
        ),
        (
            _line(GOOD, 4, "u2,i2,7,1700000200,1"),
            {"rating_range": (1, 5)},
            r"log\.csv: row 3 \(line 4\): column 'rating': 7 is outside "
            r"dataset\.columns\.rating_range \[1, 5\]$",
        ),
        (
            _line(GOOD, 2, "u1,i1,4,1700000000,2"),
            {"label_ranges": {"clicked": (0, 1)}},
            r"log\.csv: row 1 \(line 2\): column 'clicked': 2 is outside "
            r"dataset\.columns\.label_ranges\.clicked \[0, 1\]$",
        ),
        (
            _line(GOOD, 3, "u2,i1,5,yesterday,0"),
            {},
            r"log\.csv: row 2 \(line 3\): column 'timestamp' \(timestamp\): "
            r"'yesterday' is neither Unix seconds "
            r"nor an ISO 8601 time",
        ),
        (
            _line(GOOD, 4, "u1,i1,3,1700000200,1"),
            {},
            r"log\.csv: row 3 \(line 4\): user 'u1' and item 'i1' again "
            r"\(first at .*log\.csv: row 1 \(line 2\)\); "
            r"set dataset\.duplicates=keep",
        ),
    ],
    ids=[
        "empty",
        "header-only",
        "missing-column",
        "null-user",
        "null-item",
        "non-numeric-rating",
        "empty-rating",
        "rating-out-of-range",
        "label-out-of-range",
        "bad-timestamp",
        "duplicate-pair",
    ],
)
def test_bad_csv_names_file_column_and_row(tmp_path: Path, text: str, kwargs: dict, message: str) -> None:
    (tmp_path / "log.csv").write_text(text)
    with pytest.raises(DataError, match=message):
        read_table(_spec(tmp_path / "log.csv", **kwargs))


def test_a_bad_cell_far_into_a_big_file_is_found(tmp_path: Path) -> None:
    """pyarrow converts in blocks; the bisection still names the one bad row."""
    n = 300_000
    frame = pd.DataFrame({"user_id": range(n), "item_id": 1, "rating": "3", "timestamp": 5, "clicked": 0})
    frame.loc[271_828, "rating"] = "3,5"
    frame.to_csv(tmp_path / "log.csv", index=False)
    with pytest.raises(
        DataError, match=r"row 271829 \(line 271830\): column 'rating'.*'3,5' is not a number"
    ):
        read_table(_spec(tmp_path / "log.csv"))


def test_parquet_errors_name_rows_without_lines(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {"user_id": [1, 2, None], "item_id": [1, 1, 2], "rating": [1.0, 2.0, 3.0], "timestamp": [1, 2, 3]}
    )
    frame.astype({"user_id": "Int64"}).to_parquet(tmp_path / "log.parquet", index=False)
    spec = TableSpec(str(tmp_path / "log.parquet"), "user_id", "item_id", "rating", "timestamp")
    with pytest.raises(
        DataError, match=r"log\.parquet: row 3: column 'user_id' \(dataset\.columns\.user\) is empty$"
    ):
        read_table(spec)


def test_missing_unreadable_and_unknown_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"^dataset\.path=.*nope\.csv: no such file or folder$"):
        read_table(_spec(tmp_path / "nope.csv"))
    (tmp_path / "log.parquet").write_text(GOOD)  # a CSV under a Parquet name
    with pytest.raises(DataError, match=r"log\.parquet: cannot be read as parquet \(.*\)$"):
        read_table(_spec(tmp_path / "log.parquet"))
    (tmp_path / "log.xlsx").write_text(GOOD)
    with pytest.raises(
        DataError, match=r"log\.xlsx: unknown file type '\.xlsx'; name it \.csv, \.tsv or \.parquet"
    ):
        read_table(_spec(tmp_path / "log.xlsx"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"dataset\.path=.*empty: the folder has no .*\.csv.* file"):
        read_table(_spec(tmp_path / "empty"))
    (tmp_path / "latin.csv").write_bytes(GOOD.replace("u1", "Andr\xe9").encode("latin-1"))
    with pytest.raises(DataError, match=r"latin\.csv: cannot be read as csv \(.*(UTF8|utf-8|UTF-8).*\)"):
        read_table(_spec(tmp_path / "latin.csv"))
    assert read_table(_spec(tmp_path / "latin.csv", encoding="latin-1")).user_vocab[0] == "André"


def test_catalog_errors(tmp_path: Path) -> None:
    (tmp_path / "log.csv").write_text(GOOD)
    (tmp_path / "items.csv").write_text(
        "sku,genres,year\ni1,Comedy,1990\ni2,Drama,1991\ni3,Drama,1992\ni2,War,1993\n"
    )
    items = Catalog(str(tmp_path / "items.csv"), "sku", multi_valued=["genres"], numeric=["year"])
    with pytest.raises(
        DataError,
        match=r"items\.csv: row 4 \(line 5\): column 'sku' \(dataset\.items\.id\): id 'i2' collides with "
        r".*items\.csv: row 2 \(line 3\); a catalog has one row per id$",
    ):
        read_table(_spec(tmp_path / "log.csv", items=items))
    (tmp_path / "items.csv").write_text("sku,genres,year\ni1,Comedy,1990\ni2,Drama,soon\n")
    with pytest.raises(
        DataError, match=r"row 2 \(line 3\): column 'year' \(numeric feature\): 'soon' is not a number"
    ):
        read_table(_spec(tmp_path / "log.csv", items=items))
    with pytest.raises(
        DataError, match=r"items\.csv: no column 'title' \(mapped in dataset\.items\); its columns are"
    ):
        read_table(_spec(tmp_path / "log.csv", items=Catalog(str(tmp_path / "items.csv"), "sku", ["title"])))
    (tmp_path / "items.csv").write_text("sku,genres,year\ni1,Comedy,1990\n,Drama,1991\n")
    with pytest.raises(DataError, match=r"row 2 \(line 3\): column 'sku' \(dataset\.items\.id\) is empty$"):
        read_table(_spec(tmp_path / "log.csv", items=items))
