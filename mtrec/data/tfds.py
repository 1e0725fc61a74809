"""MovieLens from TensorFlow Datasets (``movielens/100k-ratings`` and ``-movies``, ...), read in chunks.

TFDS downloads an archive it has not prepared yet; offline, :func:`read_tfds` fails in seconds
with a message saying how to read the unpacked GroupLens folder instead (``dataset.path``).
"""

from __future__ import annotations

import socket

import numpy as np

from mtrec.data import features
from mtrec.data.interactions import DataError, Interactions, Vocabulary

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
# Movies per chunk: ``ragged_batch`` costs time in proportion to its batch size, however few rows
# come (1 << 20 took 25 s for 40 mocked movies, 1 << 14 took 0.5 s; measured 2026-12-03). The
# largest MovieLens has 62,423 movies, so four chunks at most.
TFDS_MOVIE_CHUNK_ROWS = 1 << 14


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
        for chunk in movies.ragged_batch(min(TFDS_CHUNK_ROWS, TFDS_MOVIE_CHUNK_ROWS)):
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
