"""Data sources: GroupLens files (fixtures and the real ml-100k), TFDS (mocked), synthetic, split."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from mtrec.data import grouplens, interactions, splits, synthetic
from mtrec.data import tfds as tfds_source
from mtrec.data.interactions import DataError
from tests.helpers import FIXTURES, compose_config, mock_tfds


def test_grouplens_100k_fixture_decodes_latin1_and_keeps_unrated_movies() -> None:
    d = grouplens.read_grouplens(FIXTURES / "ml-100k-mini")
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
    d = grouplens.read_grouplens(FIXTURES / "ml-1m-mini")
    assert len(d) == 3 and d.num_users == 2 and d.num_movies == 2
    first = d.movie_vocab[d.movie[0] - 1]
    assert first == "One Flew Over the Cuckoo's Nest (1975)" and d.rating[0] == 5.0


def test_real_ml_100k(ml_100k: Path) -> None:
    d = grouplens.read_grouplens(ml_100k)
    assert len(d) == 100_000 and d.num_users == 943
    # 1,682 movie ids, 1,664 distinct titles: the tutorial (and TFDS) key movies by title.
    assert d.num_movies == 1664
    assert "Misérables, Les (1995)" in set(d.movie_vocab)
    assert d.user.min() == 1 and d.user.max() == 943 and d.movie.max() == 1664
    assert set(np.unique(d.rating)) == {1.0, 2.0, 3.0, 4.0, 5.0}


@pytest.mark.parametrize("archive", ["ml-100k", "ml-1m-mini"])
def test_vectorised_ratings_reader_equals_the_line_by_line_parser(archive: str, ml_100k: Path) -> None:
    folder = ml_100k if archive == "ml-100k" else FIXTURES / archive
    ratings, movies, sep = (
        ("u.data", "u.item", "\t") if archive == "ml-100k" else ("ratings.dat", "movies.dat", "::")
    )
    movie_sep = "|" if archive == "ml-100k" else "::"
    lookup = {f[0]: f[1] for f in grouplens._read_rows(folder / movies, movie_sep, 2, "latin-1")}
    fast = grouplens._read_ratings(folder / ratings, sep, lookup)
    slow = grouplens._parse_ratings(
        folder / ratings, grouplens._read_rows(folder / ratings, sep, 4, "latin-1"), lookup
    )
    for got, want in zip(fast, slow):
        assert got.dtype.kind == want.dtype.kind
        np.testing.assert_array_equal(got, want)
    assert len(fast[0]) == (100_000 if archive == "ml-100k" else 3)


def test_malformed_line_names_file_and_line(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "ml-100k-mini", tmp_path / "ml")
    lines = (tmp_path / "ml" / "u.data").read_text().splitlines()
    lines[2] = "2\t1"
    (tmp_path / "ml" / "u.data").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"u\.data:3: expected 4 '\\t'-separated fields, got 2"):
        grouplens.read_grouplens(tmp_path / "ml")


def test_bad_number_names_file_and_line(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "ml-1m-mini", tmp_path / "ml")
    (tmp_path / "ml" / "ratings.dat").write_text("1::1193::five::978300760\n")
    with pytest.raises(DataError, match=r"ratings\.dat:1: rating 'five'"):
        grouplens.read_grouplens(tmp_path / "ml")


def test_unknown_movie_id_names_line(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "ml-100k-mini", tmp_path / "ml")
    with (tmp_path / "ml" / "u.data").open("a") as f:
        f.write("4\t99\t3\t889751712\n")
    with pytest.raises(DataError, match=r"u\.data:5: movie id '99' is not in the movies file"):
        grouplens.read_grouplens(tmp_path / "ml")


@pytest.mark.parametrize(
    "archive,file,line,message",
    [
        (
            "ml-100k-mini",
            "u.data",
            "\n4\t1\t9\t889751712\n",
            r"u\.data:6: rating 9 is outside the dataset's scale 1-5",
        ),
        (
            "ml-1m-mini",
            "ratings.dat",
            "1::1193::0::978300760\n",
            r"ratings\.dat:4: rating 0 is outside .* 1-5",
        ),
        (
            "ml-25m-mini",
            "ratings.csv",
            "1,7,5.5,1112486027\n",
            r"ratings\.csv:\d+: rating 5.5 is outside .* 0.5-5",
        ),
    ],
)
def test_a_rating_off_the_archives_scale_names_file_and_line(
    tmp_path: Path, archive: str, file: str, line: str, message: str
) -> None:
    shutil.copytree(FIXTURES / archive, tmp_path / "ml")
    with (tmp_path / "ml" / file).open("a") as f:
        f.write(line)
    with pytest.raises(DataError, match=message):
        grouplens.read_grouplens(tmp_path / "ml")


@pytest.mark.parametrize(
    "archive,file,header", [("ml-100k-mini", "u.data", ""), ("ml-25m-mini", "ratings.csv", "first")]
)
def test_a_ratings_file_without_ratings_is_refused(
    tmp_path: Path, archive: str, file: str, header: str
) -> None:
    shutil.copytree(FIXTURES / archive, tmp_path / "ml")
    path = tmp_path / "ml" / file
    path.write_text(path.read_text().splitlines(keepends=True)[0] if header else "")
    with pytest.raises(DataError, match=rf"{file.replace('.', '[.]')}: no ratings in the file"):
        grouplens.read_grouplens(tmp_path / "ml")


def test_missing_file_and_folder(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "ml-100k-mini", tmp_path / "ml")
    (tmp_path / "ml" / "u.item").unlink()
    with pytest.raises(DataError, match=r"u\.item: file not found"):
        grouplens.read_grouplens(tmp_path / "ml")
    with pytest.raises(DataError, match="no such folder"):
        grouplens.read_grouplens(tmp_path / "nope")
    with pytest.raises(
        DataError,
        match=r"none of u\.data/u\.item \(ml-100k\), ratings\.dat/movies\.dat \(ml-1m\), ratings\.csv",
    ):
        grouplens.read_grouplens(FIXTURES)


def test_tfds_source_with_mock_data() -> None:

    with mock_tfds(40):
        d = tfds_source.read_tfds("movielens/100k")
    assert len(d) == 40
    assert d.num_users == len(np.unique(d.user)) and d.user.min() >= 1 and d.user.max() <= d.num_users
    # Every rated title is a candidate, and candidates from the movies table are kept too.
    assert d.movie.max() <= d.num_movies and d.num_movies >= len(np.unique(d.movie))
    assert d.user_vocab.dtype.kind == "U"


def test_tfds_offline_fails_fast_saying_how_to_use_files(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(tfds_source, "GROUPLENS_HOST", "mtrec-offline.invalid")
    with pytest.raises(DataError, match=r"cannot download it .*dataset\.path=/path/to/folder"):
        tfds_source.read_tfds("movielens/100k", data_dir=str(tmp_path))


def test_synthetic_is_deterministic_and_in_range() -> None:
    a = synthetic.make_synthetic(50, 30, 2000, 4, seed=7)
    b = synthetic.make_synthetic(50, 30, 2000, 4, seed=7)
    c = synthetic.make_synthetic(50, 30, 2000, 4, seed=8)
    assert np.array_equal(a.movie, b.movie) and np.array_equal(a.rating, b.rating)
    assert not np.array_equal(a.movie, c.movie)
    assert len(a) == 2000 and a.num_users == 50 and a.num_movies == 30
    assert a.rating.min() >= 1 and a.rating.max() <= 5 and len(np.unique(a.rating)) > 2
    assert a.movie.min() >= 1 and a.movie.max() <= 30


def test_split_is_a_seeded_partition() -> None:
    d = synthetic.make_synthetic(50, 30, 1000, 4, seed=1)
    s1, s2 = splits.random_split(d, 0.2, seed=42), splits.random_split(d, 0.2, seed=42)
    assert len(s1.train) == 800 and len(s1.test) == 200
    assert np.array_equal(s1.test.timestamp, s2.test.timestamp)
    # Synthetic timestamps are row numbers: train and test rows never overlap and cover all rows.
    rows = np.concatenate([s1.train.timestamp, s1.test.timestamp])
    assert sorted(rows) == list(range(1000))
    assert not np.array_equal(splits.random_split(d, 0.2, seed=43).test.timestamp, s1.test.timestamp)


def _rows(d: interactions.Interactions) -> set[tuple]:
    return {
        (d.user_vocab[u - 1], d.movie_vocab[m - 1], float(r), int(t))
        for u, m, r, t in zip(d.user, d.movie, d.rating, d.timestamp)
    }


def test_grouplens_25m_csv_fixture_quoted_titles_half_stars_and_unrated_movies() -> None:
    d = grouplens.read_grouplens(FIXTURES / "ml-25m-mini")
    assert len(d) == 5 and list(d.user_vocab) == ["1", "10", "2"]  # sorted as strings, like TFDS ids
    assert list(d.movie_vocab) == sorted(
        [
            "Harbour Lights (1994)",
            "Clockmaker, The (2003)",
            '"Paper" Moon Over Dusk (1987)',
            "Café Nocturne (2011)",
            "Never Rated Either (1999)",
        ]
    )
    assert _rows(d) == {
        ("1", "Clockmaker, The (2003)", 3.5, 1112486027),
        ("1", '"Paper" Moon Over Dusk (1987)', 4.0, 1112484676),
        ("2", "Harbour Lights (1994)", 0.5, 974820889),
        ("2", "Café Nocturne (2011)", 5.0, 974820691),
        ("10", "Clockmaker, The (2003)", 2.5, 1527009436),
    }
    assert d.user.dtype == np.int32 and d.movie.dtype == np.int32 and d.rating.dtype == np.float32


def test_grouplens_csv_encoding_matches_from_strings(tmp_path: Path) -> None:
    """The vectorised CSV path gives the vocabularies and indices of the string path."""
    rng = np.random.default_rng(0)
    titles = [f'"Film {i}, The ({1950 + i})"' for i in range(30)]
    movies = ["movieId,title,genres"] + [f"{100 + i},{t},Drama" for i, t in enumerate(titles)]
    users, items = rng.integers(1, 200, 500), rng.integers(100, 130, 500)
    ratings = ["userId,movieId,rating,timestamp"] + [
        f"{u},{m},{(k % 10 + 1) / 2},{1_000_000 + k}" for k, (u, m) in enumerate(zip(users, items))
    ]
    (tmp_path / "movies.csv").write_text("\n".join(movies) + "\n")
    (tmp_path / "ratings.csv").write_text("\n".join(ratings) + "\n")
    got = grouplens.read_grouplens(tmp_path)
    plain = [t.strip('"') for t in titles]
    want = interactions.from_strings(
        users.astype(str),
        np.array([plain[m - 100] for m in items]),
        np.array([(k % 10 + 1) / 2 for k in range(500)]),
        np.arange(1_000_000, 1_000_500),
        np.array(plain),
    )
    for field in ("user_vocab", "movie_vocab", "user", "movie", "rating", "timestamp"):
        np.testing.assert_array_equal(getattr(got, field), getattr(want, field), err_msg=field)


@pytest.mark.parametrize(
    "file,line,message",
    [
        (
            "ratings.csv",
            "userId,movieId,rating\n",
            r"ratings\.csv:1: expected the header userId,movieId,rating,",
        ),
        ("ratings.csv", "1,7,3.5,1112486027,9\n", r"ratings\.csv:3: expected 4 ','-separated fields, got 5"),
        ("ratings.csv", "1,7,3.5\n", r"ratings\.csv:3: expected 4 ','-separated fields, got 3"),
        ("ratings.csv", "1,7,four,1112486027\n", r"ratings\.csv:3: rating 'four' is not a number"),
        ("ratings.csv", "1,99,4.0,1112486027\n", r"ratings\.csv:3: movie id '99' is not in the movies file"),
        ("movies.csv", "x7,Odd (2001),Drama\n", r"movies\.csv:3: movieId 'x7' is not a number"),
    ],
)
def test_grouplens_csv_bad_line_names_file_and_line(
    tmp_path: Path, file: str, line: str, message: str
) -> None:
    shutil.copytree(FIXTURES / "ml-25m-mini", tmp_path / "ml")
    lines = (tmp_path / "ml" / file).read_text(encoding="utf-8").splitlines(keepends=True)
    if line.startswith(("userId", "movieId")):
        lines[0] = line
    else:
        lines[2] = line
    (tmp_path / "ml" / file).write_text("".join(lines), encoding="utf-8")
    with pytest.raises(DataError, match=message):
        grouplens.read_grouplens(tmp_path / "ml")


def test_grouplens_csv_missing_movies_file(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "ml-25m-mini", tmp_path / "ml")
    (tmp_path / "ml" / "movies.csv").unlink()
    with pytest.raises(DataError, match=r"movies\.csv: file not found"):
        grouplens.read_grouplens(tmp_path / "ml")


@pytest.mark.parametrize("name", ["movielens/1m", "movielens/20m", "movielens/25m"])
def test_tfds_bigger_movielens_chunked_equals_strings(name: str, monkeypatch) -> None:
    """1M/20M/25M through TFDS (mocked), read in chunks of 7 rows: the same table as from_strings."""
    import tensorflow_datasets as tfds

    monkeypatch.setattr(tfds_source, "TFDS_CHUNK_ROWS", 7)
    with mock_tfds(50):
        got = tfds_source.read_tfds(name)
        ratings = list(tfds.as_numpy(tfds.load(f"{name}-ratings", split="train")))
        movies = list(tfds.as_numpy(tfds.load(f"{name}-movies", split="train")))
    want = interactions.from_strings(
        np.array([r["user_id"].decode() for r in ratings]),
        np.array([r["movie_title"].decode() for r in ratings]),
        np.array([r["user_rating"] for r in ratings]),
        np.array([r["timestamp"] for r in ratings]),
        np.array([m["movie_title"].decode() for m in movies]),
    )
    assert len(got) == 50
    for field in ("user_vocab", "movie_vocab", "user", "movie", "rating", "timestamp"):
        np.testing.assert_array_equal(getattr(got, field), getattr(want, field), err_msg=field)


@pytest.mark.parametrize(
    "option,tfds_name", [("movielens_20m", "movielens/20m"), ("movielens_25m", "movielens/25m")]
)
def test_bigger_dataset_options_name_their_tfds_builders(option: str, tfds_name: str) -> None:
    import tensorflow_datasets as tfds

    cfg = compose_config(f"dataset={option}")
    assert cfg.dataset.tfds_name == tfds_name and cfg.dataset.path is None
    # TFDS's MovieLens builder has configs of exactly these names (a typo would fail here, offline).
    configs = {f"movielens/{c.name}" for c in tfds.builder_cls("movielens").BUILDER_CONFIGS}
    assert {f"{tfds_name}-ratings", f"{tfds_name}-movies"} <= configs
