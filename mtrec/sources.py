"""Interaction sources: GroupLens files (ml-100k, ml-1m, ml-20m, ml-25m), TFDS, synthetic data.

Each reader returns the same :class:`~mtrec.interactions.Interactions`, with the tutorial's
vocabularies (sorted unique strings, 1-based indices); :func:`load_interactions` picks the
reader from the dataset config. A malformed file's error names the file and line.
"""

from __future__ import annotations

import csv
import socket
from dataclasses import replace
from pathlib import Path

import numpy as np

from mtrec import features
from mtrec.config import DatasetConfig
from mtrec.interactions import DataError, Interactions, Vocabulary, from_strings

# --- GroupLens files --------------------------------------------------------------------------


def _read_rows(path: Path, sep: str, num_fields: int, encoding: str) -> list[list[str]]:
    if not path.is_file():
        raise DataError(f"{path}: file not found (dataset.path must be an unpacked GroupLens folder)")
    rows = []
    with path.open(encoding=encoding, newline="") as f:
        for line_no, line in enumerate(f, start=1):
            line = line.rstrip("\r\n")
            if not line:
                continue
            fields = line.split(sep)
            if len(fields) < num_fields:
                raise DataError(
                    f"{path}:{line_no}: expected {num_fields} {sep!r}-separated fields, got {len(fields)}"
                )
            rows.append(fields)
    return rows


def _parse_ratings(path: Path, rows: list[list[str]], lookup: dict[str, str]) -> tuple:
    users, titles, ratings, stamps = [], [], [], []
    for line_no, (user, item, rating, stamp, *_) in enumerate(rows, start=1):
        try:
            titles.append(lookup[item])
            ratings.append(float(rating))
            stamps.append(int(stamp))
        except KeyError:
            raise DataError(f"{path}:{line_no}: movie id {item!r} is not in the movies file") from None
        except ValueError:
            raise DataError(
                f"{path}:{line_no}: rating {rating!r} or timestamp {stamp!r} is not a number"
            ) from None
        users.append(user)
    return np.array(users), np.array(titles), np.array(ratings), np.array(stamps)


def read_grouplens(path: str | Path) -> Interactions:
    """Reads an unpacked GroupLens archive: ml-100k (u.data, u.item), ml-1m (ratings.dat,
    movies.dat) or ml-20m / ml-25m (ratings.csv, movies.csv).

    Raises:
      DataError: for a missing folder or file, or a malformed line (file and line number).
    """
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise DataError(f"dataset.path={path}: no such folder (an unpacked GroupLens MovieLens archive)")
    if (folder / "ratings.csv").exists() or (folder / "movies.csv").exists():
        return read_grouplens_csv(folder)
    if (folder / "u.data").exists() or (folder / "u.item").exists():
        ratings_file, movies_file, sep, rating_sep = folder / "u.data", folder / "u.item", "|", "\t"
    elif (folder / "ratings.dat").exists() or (folder / "movies.dat").exists():
        ratings_file, movies_file, sep, rating_sep = folder / "ratings.dat", folder / "movies.dat", "::", "::"
    else:
        raise DataError(
            f"dataset.path={path}: none of u.data/u.item (ml-100k), ratings.dat/movies.dat (ml-1m), "
            "ratings.csv/movies.csv (ml-20m, ml-25m) found"
        )
    # Both archives encode titles in latin-1 (e.g. "Misérables, Les (1995)").
    movies = _read_rows(movies_file, sep, 2, "latin-1")
    lookup = {fields[0]: fields[1] for fields in movies}
    users, titles, ratings, stamps = _parse_ratings(
        ratings_file, _read_rows(ratings_file, rating_sep, 4, "latin-1"), lookup
    )
    data = from_strings(users, titles, ratings, stamps, np.array(list(lookup.values())))
    if sep == "|":
        movie_rows, user_rows = _movies_100k(movies_file, movies), _users(folder / "u.user", "|")
    else:
        movie_rows, user_rows = _movies_1m(movies_file, movies), _users(folder / "users.dat", "::")
    return with_features(data, user_rows, movie_rows)


def with_features(
    data: Interactions, user_rows: dict[str, np.ndarray] | None, movie_rows: dict[str, np.ndarray]
) -> Interactions:
    """``data`` with its side-feature tables (see :mod:`mtrec.features`), aligned to its vocabularies."""
    return replace(
        data,
        user_features=None
        if user_rows is None
        else features.table(data.user_vocab, user_rows, features.NUM_USER_FEATURES),
        movie_features=features.table(data.movie_vocab, movie_rows, features.NUM_MOVIE_FEATURES),
    )


def _genre_row(path: Path, line_no: int, title: str, genres: list[str]) -> np.ndarray:
    unknown = [g for g in genres if g not in features.GENRES]
    if unknown:
        known = ", ".join(features.GENRES)
        raise DataError(f"{path}:{line_no}: unknown genre {unknown[0]!r} (known: {known})")
    return features.movie_row(title, genres)


def _movies_100k(path: Path, rows: list[list[str]]) -> dict[str, np.ndarray]:
    """u.item: id|title|release date|video release date|IMDb URL|19 genre flags (0 or 1)."""
    out = {}
    for line_no, fields in enumerate(rows, start=1):
        flags = fields[5:]
        if flags and (len(flags) != len(features.GENRES_100K) or set(flags) - {"0", "1"}):
            raise DataError(
                f"{path}:{line_no}: expected {len(features.GENRES_100K)} genre flags (0 or 1) after the "
                f"5th field, got {'|'.join(flags)!r}"
            )
        genres = [g for g, flag in zip(features.GENRES_100K, flags) if flag == "1"]
        out[fields[1]] = _genre_row(path, line_no, fields[1], genres)
    return out


def _movies_1m(path: Path, rows: list[list[str]]) -> dict[str, np.ndarray]:
    """movies.dat: id::title::genres ("Action|Children's"; TFDS says "Children")."""
    out = {}
    for line_no, fields in enumerate(rows, start=1):
        genres = fields[2].replace("Children's", "Children").split("|") if len(fields) > 2 else []
        out[fields[1]] = _genre_row(path, line_no, fields[1], [g for g in genres if g])
    return out


def _users(path: Path, sep: str) -> dict[str, np.ndarray] | None:
    """u.user (id|age|gender|occupation|zip) or users.dat (id::gender::age bucket::occupation code::zip);
    None when the archive has no such file."""
    if not path.is_file():
        return None
    out = {}
    for line_no, fields in enumerate(_read_rows(path, sep, 4, "latin-1"), start=1):
        if sep == "|":
            user, age, gender, occupation = fields[0], fields[1], fields[2], fields[3]
            label = features.OCCUPATIONS_100K.get(occupation)
        else:
            user, gender, age, occupation = fields[:4]
            codes = features.OCCUPATIONS_1M
            label = codes[int(occupation)] if occupation.isdigit() and int(occupation) < len(codes) else None
        if label is None:
            raise DataError(f"{path}:{line_no}: unknown occupation {occupation!r}")
        if not age.isdigit() or gender not in ("M", "F"):
            raise DataError(f"{path}:{line_no}: age {age!r} is not a number or gender {gender!r} not M/F")
        out[user] = features.user_row(gender == "M", int(age), label)
    return out


# Columns of the ml-20m / ml-25m CSV files (first line: this header), and their types.
RATINGS_CSV: dict[str, type] = {
    "userId": np.int64,
    "movieId": np.int64,
    "rating": np.float32,
    "timestamp": np.int64,
}
MOVIES_CSV: dict[str, type] = {"movieId": np.int64, "title": str, "genres": str}


def _read_csv(path: Path, columns: dict[str, type]):
    """The file as a pandas DataFrame, parsed by pandas' C reader (tens of millions of rows)."""
    import pandas as pd

    if not path.is_file():
        raise DataError(f"{path}: file not found (dataset.path must be an unpacked GroupLens folder)")
    with path.open(encoding="utf-8", newline="") as f:
        header = f.readline().rstrip("\r\n").split(",")
    if header != list(columns):
        raise DataError(f"{path}:1: expected the header {','.join(columns)}, got {','.join(header)}")
    try:
        table = pd.read_csv(path, dtype=columns, encoding="utf-8", keep_default_na=False, engine="c")
    except (ValueError, UnicodeDecodeError) as e:  # pandas' ParserError is a ValueError.
        raise DataError(_first_bad_csv_line(path, columns) or f"{path}: {e}") from None
    return table


def _first_bad_csv_line(path: Path, columns: dict[str, type]) -> str | None:
    """Finds and describes the first malformed line, once pandas has refused the file (slow path)."""
    with path.open(encoding="utf-8", errors="replace", newline="") as f:
        reader = csv.reader(f)
        next(reader)
        for row in reader:
            line = reader.line_num
            if len(row) != len(columns):
                return f"{path}:{line}: expected {len(columns)} ','-separated fields, got {len(row)}"
            for (name, kind), value in zip(columns.items(), row):
                try:
                    kind(value)
                except ValueError:
                    return f"{path}:{line}: {name} {value!r} is not a number"
    return None


def read_grouplens_csv(folder: Path) -> Interactions:
    """Reads ml-20m / ml-25m: ``ratings.csv`` and ``movies.csv``, UTF-8, with a header line.

    Parsing and encoding are vectorised: no Python object per rating, whatever the file's size.

    Raises:
      DataError: a missing file, a wrong header, a malformed line or an unknown movie id
        (file and line number).
    """
    movies = _read_csv(folder / "movies.csv", MOVIES_CSV).drop_duplicates("movieId", keep="last")
    ratings = _read_csv(folder / "ratings.csv", RATINGS_CSV)
    movie_ids = movies["movieId"].to_numpy()
    by_id = np.argsort(movie_ids, kind="stable")
    titles = Vocabulary()
    movie_code = titles.encode(movies["title"].tolist())[by_id]  # in movie id order

    rated, sorted_ids = ratings["movieId"].to_numpy(), movie_ids[by_id]
    position = np.searchsorted(sorted_ids, rated)
    known = position < len(sorted_ids)
    known[known] = sorted_ids[position[known]] == rated[known]
    unknown = np.flatnonzero(~known)
    if len(unknown):
        line = unknown[0] + 2  # The header is line 1.
        raise DataError(
            f"{folder / 'ratings.csv'}:{line}: movie id '{rated[unknown[0]]}' is not in the movies file"
        )
    user_ids, user_row = np.unique(ratings["userId"].to_numpy(), return_inverse=True)
    users = Vocabulary()
    user_code = users.encode(user_ids.astype(str).tolist())
    user_vocab, user_remap = users.finish()
    movie_vocab, movie_remap = titles.finish()
    data = Interactions(
        user_vocab=user_vocab,
        movie_vocab=movie_vocab,
        user=user_remap[user_code[user_row]],
        movie=movie_remap[movie_code[position]],
        rating=ratings["rating"].to_numpy(np.float32),
        timestamp=ratings["timestamp"].to_numpy(np.int64),
    )
    movie_rows = {
        title: _genre_row(folder / "movies.csv", row + 2, title, genres.split("|") if genres else [])
        for row, title, genres in zip(movies.index, movies["title"], movies["genres"])
    }
    return with_features(data, None, movie_rows)  # These archives have no user demographics.


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
    keys = ("user_id", "movie_title", "user_rating", "timestamp")
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
    return with_features(data, user_rows, movie_rows)


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
