"""The table source: the real ml-100k as CSV and Parquet, catalogs, labels, folders, duplicates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mtrec.data import grouplens, splits
from mtrec.data.catalog import Catalog
from mtrec.data.files import digest, list_files
from mtrec.data.interactions import DataError
from mtrec.data.table import TableSpec, read_table
from tests.helpers import write_ml_100k_table

FIELDS = ("user_vocab", "movie_vocab", "user", "movie", "rating", "timestamp")


@pytest.mark.parametrize("name", ["ratings.csv", "ratings.parquet"])
def test_real_ml_100k_as_a_table_gives_the_grouplens_arrays(tmp_path: Path, ml_100k: Path, name: str) -> None:
    path = write_ml_100k_table(ml_100k, tmp_path / name)
    spec = TableSpec(
        str(path), user="customer", item="film", rating="stars", timestamp="seen_at", duplicates="keep"
    )
    got, want = read_table(spec), grouplens.read_grouplens(ml_100k)
    for field in FIELDS:
        assert getattr(got, field).dtype == getattr(want, field).dtype, field
        np.testing.assert_array_equal(getattr(got, field), getattr(want, field), err_msg=field)
    a, b = splits.random_split(got, 0.2, 42), splits.random_split(want, 0.2, 42)
    np.testing.assert_array_equal(a.test.movie, b.test.movie)
    assert got.source["rows"] == "100000" and got.source["files"] == "1"
    assert got.source["sha256"] == digest(list_files(path, None, "dataset.path"))
    # Two movie ids share a title in ml-100k: 307 (user, title) pairs repeat. Counted, never silent.
    assert got.source["duplicate_rows"] == "307"
    with pytest.raises(
        DataError, match=r"user '\d+' and item '.+' again \(first at .*set dataset\.duplicates"
    ):
        read_table(TableSpec(str(path), user="customer", item="film", rating="stars"))


def _write(path: Path, frame: pd.DataFrame) -> Path:
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False, sep="\t" if path.suffix == ".tsv" else ",")
    return path


LOG = pd.DataFrame(
    {
        "user_id": ["u1", "u1", "u2", "u3", "u2"],
        "item_id": [10, 11, 10, 12, 13],
        "rating": [4.0, 3.0, 5.0, 1.0, 2.0],
        "timestamp": [
            "2024-01-01",
            "2024-01-02 10:00:00",
            "2024-01-03T00:00:00",
            "2024-01-04",
            "2024-01-05",
        ],
        "clicked": [1, 0, 1, 1, 0],
        "watch_seconds": [30.5, 0.0, 12.0, 99.0, 1.5],
    }
)


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".parquet"])
def test_ids_become_sorted_strings_and_labels_stay_aligned(tmp_path: Path, suffix: str) -> None:
    path = _write(tmp_path / f"log{suffix}", LOG)
    spec = TableSpec(
        str(path),
        "user_id",
        "item_id",
        "rating",
        "timestamp",
        labels=("clicked", "watch_seconds"),
        duplicates="error",
    )
    d = read_table(spec)
    assert list(d.user_vocab) == ["u1", "u2", "u3"] and list(d.movie_vocab) == ["10", "11", "12", "13"]
    assert [d.movie_vocab[m - 1] for m in d.movie] == ["10", "11", "10", "12", "13"]
    assert d.timestamp[0] == 1704067200 and d.timestamp[1] == 1704067200 + 86400 + 36000
    np.testing.assert_array_equal(d.columns["clicked"], [1, 0, 1, 1, 0])
    assert d.columns["watch_seconds"].dtype == np.float32
    part = d.take(np.array([4, 0]))  # labels move with their rows
    np.testing.assert_array_equal(part.columns["watch_seconds"], [1.5, 30.5])
    assert list(part.concat(part).columns["clicked"]) == [0, 1, 0, 1]


def test_without_rating_or_timestamp_rows_are_positives_in_row_order(tmp_path: Path) -> None:
    d = read_table(
        TableSpec(str(_write(tmp_path / "log.csv", LOG[["user_id", "item_id"]])), "user_id", "item_id")
    )
    assert (d.rating == 1).all() and list(d.timestamp) == [0, 1, 2, 3, 4]


def test_a_folder_of_files_is_one_table_and_errors_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "log").mkdir()
    _write(tmp_path / "log" / "part-0.parquet", LOG.iloc[:3])
    _write(tmp_path / "log" / "part-1.csv", LOG.iloc[3:])
    d = read_table(TableSpec(str(tmp_path / "log"), "user_id", "item_id", "rating", "timestamp"))
    assert len(d) == 5 and list(d.movie_vocab) == ["10", "11", "12", "13"] and d.source["files"] == "2"
    bad = LOG.iloc[3:].assign(rating=["4", "lots"])
    _write(tmp_path / "log" / "part-1.csv", bad)
    with pytest.raises(
        DataError, match=r"part-1\.csv: row 2 \(line 3\): column 'rating'.*'lots' is not a number"
    ):
        read_table(TableSpec(str(tmp_path / "log"), "user_id", "item_id", "rating", "timestamp"))


def test_duplicates_keep_drop_error(tmp_path: Path) -> None:
    log = pd.DataFrame(
        {
            "user_id": [1, 1, 2, 1],
            "item_id": ["a", "b", "a", "a"],
            "rating": [1, 2, 3, 5],
            "timestamp": [9, 2, 3, 4],
        }
    )
    path = str(_write(tmp_path / "log.parquet", log))
    kept = read_table(TableSpec(path, "user_id", "item_id", "rating", "timestamp", duplicates="keep"))
    assert len(kept) == 4 and kept.source["duplicate_rows"] == "1"
    dropped = read_table(TableSpec(path, "user_id", "item_id", "rating", "timestamp", duplicates="drop"))
    # User 1 rated "a" at times 9 and 4: the latest (time 9, rating 1) stays; row order is kept.
    assert list(dropped.rating) == [1, 2, 3] and list(dropped.timestamp) == [9, 2, 3]
    with pytest.raises(
        DataError, match=r"log\.parquet: row 4: user '1' and item 'a' again \(first at .*: row 1\)"
    ):
        read_table(TableSpec(path, "user_id", "item_id", "rating", "timestamp"))


def test_catalogs_give_side_features_and_catalog_only_items_are_candidates(tmp_path: Path) -> None:
    items = pd.DataFrame(
        {
            "sku": [10, 11, 12, 13, 99],
            "brand": ["acme", "zeta", "acme", None, "zeta"],
            "tags": ["red|big", "big", "", "small | red", "red"],
            "price": [1.0, 3.0, None, 5.0, 1.0],
        }
    )
    users = pd.DataFrame({"uid": ["u1", "u2", "u9"], "country": ["fr", "de", "fr"]})
    spec = TableSpec(
        str(_write(tmp_path / "log.csv", LOG)),
        "user_id",
        "item_id",
        items=Catalog(str(_write(tmp_path / "items.parquet", items)), "sku", ["brand"], ["tags"], ["price"]),
        users=Catalog(
            str(_write(tmp_path / "users.csv", users)), "uid", categorical=["country"], key="dataset.users"
        ),
    )
    d = read_table(spec)
    assert list(d.movie_vocab) == ["10", "11", "12", "13", "99"]  # 99: in the catalog only
    rows = {item: d.movie_features[i] for i, item in enumerate(d.movie_vocab, start=1)}
    # brand (acme, zeta) | tags (big, red, small) | price standardised over the 4 known prices
    prices = np.array([1.0, 3.0, 5.0, 1.0])
    z = (prices - prices.mean()) / prices.std()
    np.testing.assert_allclose(rows["10"], [1, 0, 1, 1, 0, z[0]], rtol=1e-6)
    np.testing.assert_allclose(rows["12"], [1, 0, 0, 0, 0, 0])  # no tags; no price: the mean
    np.testing.assert_allclose(rows["13"], [0, 0, 0, 1, 1, z[2]], rtol=1e-6)  # no brand; " red" trimmed
    assert not d.movie_features[0].any() and d.movie_features.shape == (6, 6)
    users_of = {u: d.user_features[i] for i, u in enumerate(d.user_vocab, start=1)}
    assert list(users_of["u1"]) == [0, 1] and list(users_of["u3"]) == [0, 0]  # u3: not in the catalog
    assert (
        d.source["items.rows"] == "5"
        and d.source["users.rows"] == "3"
        and len(d.source["items.sha256"]) == 64
    )


def test_a_catalog_without_feature_columns_adds_candidates_only(tmp_path: Path) -> None:
    items = str(_write(tmp_path / "items.csv", pd.DataFrame({"id": [10, 11, 12, 13, 14]})))
    d = read_table(
        TableSpec(str(_write(tmp_path / "log.csv", LOG)), "user_id", "item_id", items=Catalog(items, "id"))
    )
    assert d.num_movies == 5 and d.movie_features is None
