"""Side features MovieLens provides, encoded the same way from every source.

Movies: genres (multi-hot over TFDS's 21 genre labels) and release decade (one-hot, from the
"(1995)" at the end of the title). Users (ml-100k and ml-1m only): gender, age bucket (the ml-1m
buckets, which TFDS also uses for ml-100k) and occupation (TFDS's 22 labels, which merge the
ml-100k and ml-1m lists). The conventions are TFDS's (``tensorflow_datasets/structured/
movielens_parsing.py``), so a GroupLens folder and its TFDS copy give identical feature tables.

A table has one row per vocabulary entry plus row 0, the out-of-vocabulary id (all zeros).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping

import numpy as np

from mtrec.data.interactions import Interactions

# TFDS's ``movie_genres`` ClassLabel names, in its order.
GENRES = (
    "Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "IMAX", "Musical", "Mystery", "Romance", "Sci-Fi",
    "Thriller", "Unknown", "War", "Western", "(no genres listed)",
)  # fmt: skip
# u.item's 19 genre flags, in column order, named as TFDS names them.
GENRES_100K = (
    "Unknown", "Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary",
    "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi",
    "Thriller", "War", "Western",
)  # fmt: skip
# Release decades 1910s...2010s, plus one bucket for a title without a year.
DECADES = tuple(range(1910, 2030, 10))
# TFDS's ``bucketized_user_age`` values: the ml-1m buckets (each the lowest age of its range).
AGE_BUCKETS = (1, 18, 25, 35, 45, 50, 56)
# TFDS's ``user_occupation_label`` names, in its order.
OCCUPATIONS = (
    "academic/educator", "artist", "clerical/admin", "customer service", "doctor/health care",
    "entertainment", "executive/managerial", "farmer", "homemaker", "lawyer", "librarian",
    "other/not specified", "programmer", "retired", "sales/marketing", "scientist", "self-employed",
    "student", "technician/engineer", "tradesman/craftsman", "unemployed", "writer",
)  # fmt: skip
# ml-100k's u.user occupations -> TFDS labels.
OCCUPATIONS_100K = {
    "administrator": "clerical/admin", "artist": "artist", "doctor": "doctor/health care",
    "educator": "academic/educator", "engineer": "technician/engineer",
    "entertainment": "entertainment", "executive": "executive/managerial",
    "healthcare": "doctor/health care", "homemaker": "homemaker", "lawyer": "lawyer",
    "librarian": "librarian", "marketing": "sales/marketing", "none": "other/not specified",
    "other": "other/not specified", "programmer": "programmer", "retired": "retired",
    "salesman": "sales/marketing", "scientist": "scientist", "student": "student",
    "technician": "technician/engineer", "writer": "writer",
}  # fmt: skip
# ml-1m's users.dat occupation codes 0-20 -> TFDS labels ("K-12" and "college/grad" students merged).
OCCUPATIONS_1M = (
    "other/not specified", "academic/educator", "artist", "clerical/admin", "student",
    "customer service", "doctor/health care", "executive/managerial", "farmer", "homemaker",
    "student", "lawyer", "programmer", "retired", "sales/marketing", "scientist", "self-employed",
    "technician/engineer", "tradesman/craftsman", "unemployed", "writer",
)  # fmt: skip

NUM_MOVIE_FEATURES = len(GENRES) + len(DECADES) + 1
NUM_USER_FEATURES = 2 + len(AGE_BUCKETS) + len(OCCUPATIONS)
_YEAR = re.compile(r"\((\d{4})\)\s*$")


def age_bucket(age: int) -> int:
    """A raw age -> its TFDS bucket (the largest bucket start <= age)."""
    return max([AGE_BUCKETS[0], *(b for b in AGE_BUCKETS if b <= age)])


def movie_row(title: str, genres: Iterable[str]) -> np.ndarray:
    """[NUM_MOVIE_FEATURES] float32: genres multi-hot, then the release decade one-hot."""
    row = np.zeros(NUM_MOVIE_FEATURES, np.float32)
    for genre in genres:
        row[GENRES.index(genre)] = 1.0
    year = _YEAR.search(title)
    decade = len(DECADES)  # no year in the title
    if year:
        decade = int(np.clip((int(year.group(1)) - DECADES[0]) // 10, 0, len(DECADES) - 1))
    row[len(GENRES) + decade] = 1.0
    return row


def user_row(is_male: bool, age: int, occupation: str) -> np.ndarray:
    """[NUM_USER_FEATURES] float32: gender, age bucket and occupation, each one-hot."""
    row = np.zeros(NUM_USER_FEATURES, np.float32)
    row[int(is_male)] = 1.0
    row[2 + AGE_BUCKETS.index(age_bucket(age))] = 1.0
    row[2 + len(AGE_BUCKETS) + OCCUPATIONS.index(occupation)] = 1.0
    return row


def table(vocab: np.ndarray, rows: Mapping[str, np.ndarray], width: int) -> np.ndarray:
    """[len(vocab) + 1, width]: row i + 1 is ``rows[vocab[i]]`` (zeros when absent), row 0 zeros."""
    out = np.zeros((len(vocab) + 1, width), np.float32)
    for i, key in enumerate(vocab, start=1):
        row = rows.get(key)
        if row is not None:
            out[i] = row
    return out


def attach(
    data: Interactions, user_rows: dict[str, np.ndarray] | None, movie_rows: dict[str, np.ndarray]
) -> Interactions:
    """``data`` with side-feature tables built from per-id rows, aligned to its vocabularies.

    Args:
      data: the interactions, whose vocabularies order the tables.
      user_rows: user id -> :func:`user_row`; None when the source has no user features.
      movie_rows: movie title -> :func:`movie_row`.
    """
    return dataclasses.replace(
        data,
        user_features=None if user_rows is None else table(data.user_vocab, user_rows, NUM_USER_FEATURES),
        movie_features=table(data.movie_vocab, movie_rows, NUM_MOVIE_FEATURES),
    )
