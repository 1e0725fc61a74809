"""Data sources: GroupLens files (fixtures and the real ml-100k), TFDS (mocked), synthetic, split."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from mtrec import data
from mtrec.data import DataError
from tests.conftest import FIXTURES, compose_config


def test_grouplens_100k_fixture_decodes_latin1_and_keeps_unrated_movies() -> None:
    d = data.read_grouplens(FIXTURES / "ml-100k-mini")
    assert len(d) == 4 and d.num_users == 3
    assert list(d.movie_vocab) == sorted(
        ["Toy Story (1995)", "GoldenEye (1995)", "Misérables, Les (1995)", "Never Rated (1996)"]
    )
    rows = {
        (d.user_vocab[u - 1], d.movie_vocab[m - 1], float(r), int(t))
        for u, m, r, t in zip(d.user, d.movie, d.rating, d.timestamp)
    }
    assert ("3", "Misérables, Les (1995)", 1.0, 889751712) in rows
    assert ("1", "GoldenEye (1995)", 3.0, 876893171) in rows
    assert d.rating.dtype == np.float32 and d.user.dtype == np.int32


def test_grouplens_1m_fixture() -> None:
    d = data.read_grouplens(FIXTURES / "ml-1m-mini")
    assert len(d) == 3 and d.num_users == 2 and d.num_movies == 2
    first = d.movie_vocab[d.movie[0] - 1]
    assert first == "One Flew Over the Cuckoo's Nest (1975)" and d.rating[0] == 5.0


def test_real_ml_100k(ml_100k: Path) -> None:
    d = data.read_grouplens(ml_100k)
    assert len(d) == 100_000 and d.num_users == 943
    # 1,682 movie ids, 1,664 distinct titles: the tutorial (and TFDS) key movies by title.
    assert d.num_movies == 1664
    assert "Misérables, Les (1995)" in set(d.movie_vocab)
    assert d.user.min() == 1 and d.user.max() == 943 and d.movie.max() == 1664
    assert set(np.unique(d.rating)) == {1.0, 2.0, 3.0, 4.0, 5.0}


def test_malformed_line_names_file_and_line(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "ml-100k-mini", tmp_path / "ml")
    lines = (tmp_path / "ml" / "u.data").read_text().splitlines()
    lines[2] = "2\t1"
    (tmp_path / "ml" / "u.data").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"u\.data:3: expected 4 '\\t'-separated fields, got 2"):
        data.read_grouplens(tmp_path / "ml")


def test_bad_number_names_file_and_line(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "ml-1m-mini", tmp_path / "ml")
    (tmp_path / "ml" / "ratings.dat").write_text("1::1193::five::978300760\n")
    with pytest.raises(DataError, match=r"ratings\.dat:1: rating 'five'"):
        data.read_grouplens(tmp_path / "ml")


def test_unknown_movie_id_names_line(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "ml-100k-mini", tmp_path / "ml")
    with (tmp_path / "ml" / "u.data").open("a") as f:
        f.write("4\t99\t3\t889751712\n")
    with pytest.raises(DataError, match=r"u\.data:5: movie id '99' is not in the movies file"):
        data.read_grouplens(tmp_path / "ml")


def test_missing_file_and_folder(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "ml-100k-mini", tmp_path / "ml")
    (tmp_path / "ml" / "u.item").unlink()
    with pytest.raises(DataError, match=r"u\.item: file not found"):
        data.read_grouplens(tmp_path / "ml")
    with pytest.raises(DataError, match="no such folder"):
        data.read_grouplens(tmp_path / "nope")
    with pytest.raises(DataError, match="neither u.data"):
        data.read_grouplens(FIXTURES)


def test_tfds_source_with_mock_data() -> None:
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=40):
        d = data.read_tfds("movielens/100k")
    assert len(d) == 40
    assert d.num_users == len(np.unique(d.user)) and d.user.min() >= 1 and d.user.max() <= d.num_users
    # Every rated title is a candidate, and candidates from the movies table are kept too.
    assert d.movie.max() <= d.num_movies and d.num_movies >= len(np.unique(d.movie))
    assert d.user_vocab.dtype.kind == "U"


def test_tfds_offline_fails_fast_saying_how_to_use_files(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(data, "GROUPLENS_HOST", "mtrec-offline.invalid")
    with pytest.raises(DataError, match=r"cannot download it .*dataset\.path=/path/to/folder"):
        data.read_tfds("movielens/100k", data_dir=str(tmp_path))


def test_synthetic_is_deterministic_and_in_range() -> None:
    a = data.make_synthetic(50, 30, 2000, 4, seed=7)
    b = data.make_synthetic(50, 30, 2000, 4, seed=7)
    c = data.make_synthetic(50, 30, 2000, 4, seed=8)
    assert np.array_equal(a.movie, b.movie) and np.array_equal(a.rating, b.rating)
    assert not np.array_equal(a.movie, c.movie)
    assert len(a) == 2000 and a.num_users == 50 and a.num_movies == 30
    assert a.rating.min() >= 1 and a.rating.max() <= 5 and len(np.unique(a.rating)) > 2
    assert a.movie.min() >= 1 and a.movie.max() <= 30


def test_split_is_a_seeded_partition() -> None:
    d = data.make_synthetic(50, 30, 1000, 4, seed=1)
    s1, s2 = data.random_split(d, 0.2, seed=42), data.random_split(d, 0.2, seed=42)
    assert len(s1.train) == 800 and len(s1.test) == 200
    assert np.array_equal(s1.test.timestamp, s2.test.timestamp)
    # Synthetic timestamps are row numbers: train and test rows never overlap and cover all rows.
    rows = np.concatenate([s1.train.timestamp, s1.test.timestamp])
    assert sorted(rows) == list(range(1000))
    assert not np.array_equal(data.random_split(d, 0.2, seed=43).test.timestamp, s1.test.timestamp)


def test_load_split_parses_once_per_process(monkeypatch) -> None:
    calls = []
    real = data.load_interactions
    monkeypatch.setattr(data, "load_interactions", lambda cfg: calls.append(1) or real(cfg))
    cfg = compose_config("dataset=synthetic", "dataset.num_interactions=1234")
    first = data.load_split(cfg.dataset)
    again = data.load_split(compose_config("dataset=synthetic", "dataset.num_interactions=1234").dataset)
    other = data.load_split(compose_config("dataset=synthetic", "dataset.num_interactions=1235").dataset)
    assert first is again and other is not first and len(calls) == 2


def test_cache_stats_count_loads_and_hits() -> None:
    cfg = compose_config("dataset=synthetic", "dataset.num_interactions=1236").dataset
    before = data.cache_stats()
    data.load_split(cfg)
    data.load_split(cfg)
    after = data.cache_stats()
    assert (after["loads"] - before["loads"], after["hits"] - before["hits"]) == (1, 1)
