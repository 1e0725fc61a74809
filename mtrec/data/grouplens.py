"""GroupLens MovieLens archives as published: ml-100k (``u.data``, ``u.item``, ``u.user``), ml-1m
(``ratings.dat``, ``movies.dat``, ``users.dat``), ml-20m / ml-25m (``ratings.csv``, ``movies.csv``).

Each reader returns the tutorial's :class:`~mtrec.data.interactions.Interactions` (sorted unique
strings, 1-based indices) with the side features of :mod:`mtrec.data.features`. A malformed file's
error names the file and line; so does a rating outside the archive's published scale
(:data:`RATING_SCALES`), and a ratings file without ratings is refused.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from mtrec.data import features
from mtrec.data.interactions import DataError, Interactions, Vocabulary, from_strings

RATING_SCALES = {"u.data": (1.0, 5.0), "ratings.dat": (1.0, 5.0), "ratings.csv": (0.5, 5.0)}
"""The lowest and highest rating of each archive's ratings file, as GroupLens's READMEs declare
them: whole stars 1-5 in ml-100k and ml-1m, half stars 0.5-5 in ml-20m and ml-25m."""


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


def _read_ratings(path: Path, sep: str, lookup: dict[str, str]) -> tuple:
    """u.data / ratings.dat -> (user ids, titles, ratings, timestamps), each [n].

    Parsed by pandas' C reader (ml-100k: ~0.05 s instead of ~0.5 s line by line). A file it
    refuses, or one naming a movie the movies file lacks, is read again line by line, by the
    parser whose error names the file and line.
    """
    import pandas as pd

    # ratings.dat's "::" separator, read as ":", leaves an empty field between the values.
    columns = [0, 1, 2, 3] if sep == "\t" else [0, 2, 4, 6]
    try:
        table = pd.read_csv(
            path,
            sep=sep[0],
            header=None,
            usecols=columns,
            dtype={columns[0]: str, columns[1]: str, columns[2]: np.float64, columns[3]: np.int64},
            encoding="latin-1",
            na_filter=False,
            engine="c",
        )
        titles = table[columns[1]].map(lookup)
    except (ValueError, OSError, UnicodeDecodeError):  # pandas' ParserError is a ValueError.
        titles = None
    if titles is None or titles.isna().any():  # a movie id the movies file lacks
        return _parse_ratings(path, _read_rows(path, sep, 4, "latin-1"), lookup)
    return (
        table[columns[0]].to_numpy(dtype=str),
        titles.to_numpy(dtype=str),
        table[columns[2]].to_numpy(),
        table[columns[3]].to_numpy(),
    )


def _line_of_row(path: Path, row: int, header_lines: int, encoding: str) -> int:
    """The line number of data row ``row`` (0-based) of a file whose blank lines hold no row."""
    with path.open(encoding=encoding, errors="replace", newline="") as f:
        rows = -1
        for line_no, line in enumerate(f, start=1):
            if line_no > header_lines and line.strip():
                rows += 1
                if rows == row:
                    return line_no
    return row + header_lines + 1


def _check_ratings(path: Path, ratings: np.ndarray, header_lines: int, encoding: str) -> None:
    """Refuses a ratings file without ratings, or with one outside its archive's scale.

    Raises:
      DataError: naming the file (and the line of the first rating off the scale).
    """
    if len(ratings) == 0:
        raise DataError(f"{path}: no ratings in the file (is it empty?)")
    low, high = RATING_SCALES[path.name]
    outside = np.flatnonzero(~((ratings >= low) & (ratings <= high)))
    if len(outside):
        line = _line_of_row(path, int(outside[0]), header_lines, encoding)
        raise DataError(
            f"{path}:{line}: rating {ratings[outside[0]]:g} is outside the dataset's scale {low:g}-{high:g}"
        )


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
    users, titles, ratings, stamps = _read_ratings(ratings_file, rating_sep, lookup)
    _check_ratings(ratings_file, ratings, 0, "latin-1")
    data = from_strings(users, titles, ratings, stamps, np.array(list(lookup.values())))
    if sep == "|":
        movie_rows, user_rows = _movies_100k(movies_file, movies), _users(folder / "u.user", "|")
    else:
        movie_rows, user_rows = _movies_1m(movies_file, movies), _users(folder / "users.dat", "::")
    return features.attach(data, user_rows, movie_rows)


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
    _check_ratings(folder / "ratings.csv", ratings["rating"].to_numpy(), 1, "utf-8")
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
    return features.attach(data, None, movie_rows)  # These archives have no user demographics.
