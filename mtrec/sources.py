"""Interaction sources: GroupLens files (ml-100k, ml-1m, ml-20m, ml-25m; read by
:mod:`mtrec.grouplens`), TFDS, synthetic data.

Each reader returns the same :class:`~mtrec.interactions.Interactions`, with the tutorial's
vocabularies (sorted unique strings, 1-based indices) and the side features of
:mod:`mtrec.features`; :func:`load_interactions` picks the reader from the dataset config.
"""

from __future__ import annotations

import socket

import numpy as np

from mtrec import features
from mtrec.config import DatasetConfig
from mtrec.grouplens import read_grouplens, read_grouplens_csv
from mtrec.interactions import DataError, Interactions, Vocabulary

__all__ = ["load_interactions", "make_synthetic", "read_grouplens", "read_grouplens_csv", "read_tfds"]

# --- TFDS -----------------------------------------------------------------------------------


# Where TFDS's MovieLens builders download from; checked first so that an offline machine fails
# in seconds instead of after TFDS's minutes of download retries.
GROUPLENS_HOST = "files.grouplens.org"


def _load_tfds(name: str, data_dir: str | None):
    import tensorflow_datasets as tfds

    try:
        return tfds.load(name, split="train", data_dir=data_dir, download=False)
    except Exception:  # Not prepared yet (TFDS raises AssertionError or its own errors).
        pass
    try:
        socket.create_connection((GROUPLENS_HOST, 443), timeout=10).close()
    except OSError as e:
        raise DataError(
            f"TFDS has no prepared copy of {name} and cannot download it ({GROUPLENS_HOST}: {e}). "
            "Offline? Unpack the GroupLens archive and run with dataset.path=/path/to/folder"
        ) from None
    return tfds.load(name, split="train", data_dir=data_dir)


# Rows per chunk read from TFDS: chunks are encoded one at a time, so only one is ever decoded.
TFDS_CHUNK_ROWS = 1 << 20


def _decode(values: np.ndarray) -> list[str]:
    return [v.decode("utf-8") for v in values]


DEMOGRAPHICS = ("user_gender", "bucketized_user_age", "user_occupation_label")


def _encode_chunks(
    name: str, data_dir: str | None, titles: Vocabulary, users: Vocabulary
) -> tuple[dict, dict[str, np.ndarray] | None]:
    """Ratings as integer codes, chunk by chunk: each chunk's distinct strings are decoded once.
    Also each user's side features, when the dataset has demographics (100k, 1m), else None."""
    import tensorflow as tf

    ds = _load_tfds(name, data_dir)
    keys: tuple[str, ...] = ("user_id", "movie_title", "user_rating", "timestamp")
    has_demographics = all(k in ds.element_spec for k in DEMOGRAPHICS)
    keys += DEMOGRAPHICS * has_demographics
    ds = ds.map(lambda x: {k: x[k] for k in keys}).batch(TFDS_CHUNK_ROWS)
    columns: dict[str, list[np.ndarray]] = {"user": [], "movie": [], "rating": [], "timestamp": []}
    user_rows: dict[str, np.ndarray] = {}
    for chunk in ds:
        user_ids, user_row = tf.unique(chunk["user_id"])
        movie_titles, movie_row = tf.unique(chunk["movie_title"])
        decoded_users = _decode(user_ids.numpy())
        columns["user"].append(users.encode(decoded_users)[user_row.numpy()])
        columns["movie"].append(titles.encode(_decode(movie_titles.numpy()))[movie_row.numpy()])
        columns["rating"].append(chunk["user_rating"].numpy().astype(np.float32))
        columns["timestamp"].append(chunk["timestamp"].numpy().astype(np.int64))
        if has_demographics:
            _, first = np.unique(user_row.numpy(), return_index=True)  # each user's first row
            gender, age, occupation = (chunk[k].numpy()[first] for k in DEMOGRAPHICS)
            for user, *demographics in zip(decoded_users, gender, age, occupation):
                user_rows[user] = _tfds_user_row(*demographics)
    return {k: np.concatenate(v) for k, v in columns.items()}, user_rows if has_demographics else None


def _tfds_user_row(is_male: bool, age: float, occupation: int) -> np.ndarray:
    return features.user_row(bool(is_male), int(age), features.OCCUPATIONS[int(occupation)])


def read_tfds(tfds_name: str, data_dir: str | None = None) -> Interactions:
    """Loads ``{tfds_name}-ratings`` and ``{tfds_name}-movies``, downloading them if TFDS must.

    Reads in chunks of ``TFDS_CHUNK_ROWS`` and keeps only integer codes, so 20M/25M ratings never
    exist as Python strings; the vocabularies are those of :func:`from_strings`. The side features
    are those of :func:`read_grouplens` on the same archive.

    Raises:
      DataError: when TFDS cannot get the data (no network), saying how to use local files.
    """
    titles, users = Vocabulary(), Vocabulary()
    movie_rows = {}
    try:
        ratings, user_rows = _encode_chunks(f"{tfds_name}-ratings", data_dir, titles, users)
        movies = _load_tfds(f"{tfds_name}-movies", data_dir).map(
            lambda x: {"title": x["movie_title"], "genres": x["movie_genres"]}
        )
        for chunk in movies.ragged_batch(TFDS_CHUNK_ROWS):
            chunk_titles = _decode(chunk["title"].numpy())
            titles.encode(chunk_titles)  # Every candidate movie, rated or not.
            for title, genres in zip(chunk_titles, chunk["genres"].to_list()):
                movie_rows[title] = features.movie_row(title, [features.GENRES[g] for g in genres])
    except DataError:
        raise
    except Exception as e:  # TFDS raises many kinds (download, checksum, IO) for the same cause.
        raise DataError(
            f"TFDS could not load {tfds_name}-ratings/-movies ({type(e).__name__}: {str(e)[:200]}). "
            "Offline? Unpack the GroupLens archive and run with dataset.path=/path/to/folder"
        ) from e
    user_vocab, user_remap = users.finish()
    movie_vocab, movie_remap = titles.finish()
    data = Interactions(
        user_vocab=user_vocab,
        movie_vocab=movie_vocab,
        user=user_remap[ratings["user"]],
        movie=movie_remap[ratings["movie"]],
        rating=ratings["rating"],
        timestamp=ratings["timestamp"],
    )
    return features.attach(data, user_rows, movie_rows)


# --- synthetic ------------------------------------------------------------------------------


def make_synthetic(
    num_users: int, num_movies: int, num_interactions: int, num_factors: int, seed: int
) -> Interactions:
    """Users x movies with ratings 1-5 from latent factors, deterministic by ``seed``.

    Each movie belongs to one of ``num_factors`` genres (its side feature, one-hot) and has a
    Zipf-like popularity; a user picks a genre from their own preference, then a movie of that
    genre by popularity. The rating is the rounded, clipped affinity of user and movie factors
    plus noise. Generation is O(n) and vectorised, so it scales to tens of millions of rows.
    """
    rng = np.random.default_rng(seed)
    user_factors = rng.normal(size=(num_users, num_factors)).astype(np.float32)
    movie_factors = rng.normal(size=(num_movies, num_factors)).astype(np.float32)
    movie_genre = np.argmax(movie_factors, axis=1)
    popularity = 1.0 / np.arange(1, num_movies + 1) ** 0.8
    rng.shuffle(popularity)
    user_activity = 1.0 / np.arange(1, num_users + 1) ** 0.5

    user = rng.choice(num_users, size=num_interactions, p=user_activity / user_activity.sum())
    genre_logits = user_factors[user]
    genre = np.argmax(genre_logits + rng.gumbel(size=genre_logits.shape), axis=1)
    movie = np.empty(num_interactions, dtype=np.int64)
    for g in range(num_factors):
        rows = np.flatnonzero(genre == g)
        members = np.flatnonzero(movie_genre == g)
        if len(members) == 0:
            members = np.arange(num_movies)
        weights = popularity[members] / popularity[members].sum()
        movie[rows] = rng.choice(members, size=len(rows), p=weights)

    affinity = np.einsum("ij,ij->i", user_factors[user], movie_factors[movie]) / np.sqrt(num_factors)
    rating = np.clip(np.rint(3.0 + 1.2 * affinity + rng.normal(scale=0.5, size=num_interactions)), 1, 5)
    width = len(str(max(num_users, num_movies)))
    genres = np.zeros((num_movies + 1, num_factors), np.float32)  # row 0: the out-of-vocabulary id
    genres[np.arange(1, num_movies + 1), movie_genre] = 1.0
    return Interactions(
        user_vocab=np.array([f"user_{i:0{width}d}" for i in range(num_users)]),
        movie_vocab=np.array([f"movie_{i:0{width}d}" for i in range(num_movies)]),
        user=(user + 1).astype(np.int32),
        movie=(movie + 1).astype(np.int32),
        rating=rating.astype(np.float32),
        timestamp=np.arange(num_interactions, dtype=np.int64),
        movie_features=genres,  # each movie's genre, one-hot; synthetic users have no features
    )


def load_interactions(cfg: DatasetConfig) -> Interactions:
    if cfg.kind == "synthetic":
        return make_synthetic(
            cfg.num_users, cfg.num_movies, cfg.num_interactions, cfg.num_factors, cfg.split_seed
        )
    if cfg.path:
        return read_grouplens(cfg.path)
    return read_tfds(cfg.tfds_name, cfg.data_dir)
