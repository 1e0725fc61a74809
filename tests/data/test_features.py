"""Side features: the same encoding from GroupLens files and TFDS, aligned to the vocabularies."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from mtrec.data import features, grouplens
from mtrec.data import tfds as tfds_source
from mtrec.data.interactions import DataError
from tests.helpers import FIXTURES, mock_tfds


def _names(row: np.ndarray, user: bool) -> set[str]:
    """The one-hot / multi-hot positions of a feature row, as readable names."""
    if user:
        names = ["F", "M"] + [f"age {a}" for a in features.AGE_BUCKETS] + list(features.OCCUPATIONS)
    else:
        names = list(features.GENRES) + [f"{d}s" for d in features.DECADES] + ["no year"]
    return {names[i] for i in np.flatnonzero(row)}


def test_grouplens_100k_features_by_hand() -> None:
    d = grouplens.read_grouplens(FIXTURES / "ml-100k-mini")
    movie = {title: d.movie_features[i] for i, title in enumerate(d.movie_vocab, start=1)}
    assert _names(movie["Toy Story (1995)"], user=False) == {"Animation", "Children", "Comedy", "1990s"}
    assert _names(movie["GoldenEye (1995)"], user=False) == {"Action", "Adventure", "Thriller", "1990s"}
    assert _names(movie["Never Rated (1996)"], user=False) == {"Drama", "1990s"}
    user = {uid: d.user_features[i] for i, uid in enumerate(d.user_vocab, start=1)}
    # u.user: 1|24|M|technician, 2|53|F|other, 3|17|M|student (TFDS's buckets and labels).
    assert _names(user["1"], user=True) == {"M", "age 18", "technician/engineer"}
    assert _names(user["2"], user=True) == {"F", "age 50", "other/not specified"}
    assert _names(user["3"], user=True) == {"M", "age 1", "student"}
    # Row 0 is the out-of-vocabulary id, and a table moves with the rows it describes.
    assert not d.movie_features[0].any() and not d.user_features[0].any()
    assert d.take(np.array([0])).movie_features is d.movie_features


def test_real_ml_100k_every_user_and_movie_has_features(ml_100k: Path) -> None:
    d = grouplens.read_grouplens(ml_100k)
    assert d.user_features.shape == (944, features.NUM_USER_FEATURES)
    assert (d.user_features[1:].sum(axis=1) == 3).all()  # gender, age bucket, occupation
    assert d.movie_features.shape == (d.num_movies + 1, features.NUM_MOVIE_FEATURES)
    decades = d.movie_features[1:, len(features.GENRES) :]
    assert (decades.sum(axis=1) == 1).all()
    assert (d.movie_features[1:, : len(features.GENRES)].sum(axis=1) >= 1).all()


def test_grouplens_1m_and_csv_genres_without_user_file(tmp_path: Path) -> None:
    d = grouplens.read_grouplens(FIXTURES / "ml-1m-mini")
    assert d.user_features is None  # the fixture has no users.dat
    peach = d.movie_features[list(d.movie_vocab).index("James and the Giant Peach (1996)") + 1]
    assert _names(peach, user=False) == {"Animation", "Children", "Musical", "1990s"}
    shutil.copytree(FIXTURES / "ml-1m-mini", tmp_path / "ml")
    (tmp_path / "ml" / "users.dat").write_text("1::F::25::10::11106\n2::M::1::4::10023\n")
    d = grouplens.read_grouplens(tmp_path / "ml")
    rows = {uid: d.user_features[i] for i, uid in enumerate(d.user_vocab, start=1)}
    assert _names(rows["1"], user=True) == {"F", "age 25", "student"}  # code 10: K-12 student
    csv = grouplens.read_grouplens(FIXTURES / "ml-25m-mini")
    assert csv.user_features is None and csv.movie_features.shape[0] == csv.num_movies + 1


@pytest.mark.parametrize(
    "file,line,match",
    [
        ("u.user", "1|24|M|astronaut|85711\n", r"u\.user:1: unknown occupation 'astronaut'"),
        ("u.user", "1|old|M|writer|85711\n", r"u\.user:1: age 'old' is not a number"),
        ("u.item", "1|Toy Story (1995)|x||u|0|1|2\n", r"u\.item:1: expected 19 genre flags"),
    ],
)
def test_bad_feature_line_names_file_and_line(tmp_path: Path, file: str, line: str, match: str) -> None:
    shutil.copytree(FIXTURES / "ml-100k-mini", tmp_path / "ml")
    path = tmp_path / "ml" / file
    rest = path.read_text(encoding="latin-1").splitlines(keepends=True)[1:]
    path.write_text(line + "".join(rest), encoding="latin-1")  # line 1 replaced
    with pytest.raises(DataError, match=match):
        grouplens.read_grouplens(tmp_path / "ml")


def test_tfds_features_match_each_row(tmp_path: Path) -> None:
    import tensorflow_datasets as tfds

    with mock_tfds(30):
        d = tfds_source.read_tfds("movielens/100k")
        ratings = list(tfds.as_numpy(tfds.load("movielens/100k-ratings", split="train")))
        movies = list(tfds.as_numpy(tfds.load("movielens/100k-movies", split="train")))
        big = tfds_source.read_tfds("movielens/20m")
    users = list(d.user_vocab)
    for r in ratings[:10]:
        want = features.user_row(
            bool(r["user_gender"]),
            int(r["bucketized_user_age"]),
            features.OCCUPATIONS[r["user_occupation_label"]],
        )
        got = d.user_features[users.index(r["user_id"].decode()) + 1]
        # Mock data draws demographics per row; a user's first row is the one kept.
        first = next(x for x in ratings if x["user_id"] == r["user_id"])
        if first is r:
            np.testing.assert_array_equal(got, want)
    titles = list(d.movie_vocab)
    for m in movies:
        title = m["movie_title"].decode()
        genres = [features.GENRES[g] for g in m["movie_genres"]]
        want = features.movie_row(title, genres)
        np.testing.assert_array_equal(d.movie_features[titles.index(title) + 1], want)
    assert big.user_features is None and big.movie_features is not None  # 20m has no demographics
