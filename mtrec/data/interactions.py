"""The in-memory interaction table every source yields, and a train/validation/test split of it.

:class:`Interactions` holds integer ids into two vocabularies (user ids and movie titles as
strings, the fields TFDS's MovieLens gives), float ratings and timestamps. Integer ids keep memory
flat for large datasets; strings appear only at the model's edges.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np


class DataError(ValueError):
    """A dataset that cannot be read; the message names the file (and line) or the key to fix."""


@dataclass(frozen=True)
class Interactions:
    """One row per (user, movie) interaction: a rating, and any other per-row columns.

    Attributes:
      user_vocab: [num_users] user ids as strings; row ``i`` of ``user`` refers to
        ``user_vocab[user[i] - 1]`` (index 0 is the model's out-of-vocabulary bucket).
      movie_vocab: [num_movies] movie titles, every candidate movie, rated or not.
      user: [n] int32 user index, 1-based.
      movie: [n] int32 movie index, 1-based.
      rating: [n] float32 rating.
      timestamp: [n] int64 Unix seconds.
      columns: name -> [n] float32, the source's other per-row columns that tasks may take
        labels from (a click flag, a purchase flag, a watch time); ``rating`` is not among them.
      masks: task name -> [n] bool, whether the row's label is known to that task (see
        :func:`mtrec.data.splits.mask_labels`); a task without an entry knows every label.
      user_features: [num_users + 1, F] float32 side features of each user (row 0, the
        out-of-vocabulary id, zeros; see :mod:`mtrec.data.features`); None when the source has none.
      movie_features: [num_movies + 1, F] float32 side features of each movie, likewise.
      source: what was read, for the run's record (a table source's ``path``, ``rows`` and
        ``sha256``, see :mod:`mtrec.data.table`); empty when there is no file to name.
    """

    user_vocab: np.ndarray
    movie_vocab: np.ndarray
    user: np.ndarray
    movie: np.ndarray
    rating: np.ndarray
    timestamp: np.ndarray
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    masks: dict[str, np.ndarray] = field(default_factory=dict)
    user_features: np.ndarray | None = None
    movie_features: np.ndarray | None = None
    source: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.rating)

    @property
    def num_users(self) -> int:
        return len(self.user_vocab)

    @property
    def num_movies(self) -> int:
        return len(self.movie_vocab)

    def take(self, rows: np.ndarray) -> Interactions:
        """The same vocabularies and side features, only the given rows."""
        return replace(
            self,
            user=self.user[rows],
            movie=self.movie[rows],
            rating=self.rating[rows],
            timestamp=self.timestamp[rows],
            columns={name: values[rows] for name, values in self.columns.items()},
            masks={name: mask[rows] for name, mask in self.masks.items()},
        )

    def concat(self, other: Interactions) -> Interactions:
        """These rows, then ``other``'s (same vocabularies and side features)."""
        return replace(
            self,
            user=np.concatenate([self.user, other.user]),
            movie=np.concatenate([self.movie, other.movie]),
            rating=np.concatenate([self.rating, other.rating]),
            timestamp=np.concatenate([self.timestamp, other.timestamp]),
            columns={n: np.concatenate([v, other.columns[n]]) for n, v in self.columns.items()},
            masks={n: np.concatenate([self.mask(n), other.mask(n)]) > 0 for n in {*self.masks, *other.masks}},
        )

    def column(self, name: str) -> np.ndarray:
        """[n] the per-row column ``name``: ``rating`` or one of :attr:`columns`."""
        return self.rating if name == "rating" else self.columns[name]

    def mask(self, task: str) -> np.ndarray:
        """[n] float32: 1 where ``task``'s label is known, 0 where it is masked."""
        if task not in self.masks:
            return np.ones(len(self), dtype=np.float32)
        return self.masks[task].astype(np.float32)


def movies_by_user(data: Interactions) -> tuple[np.ndarray, np.ndarray]:
    """Each user's distinct movies as a ragged [num_users + 1, None] table (row 0, the
    out-of-vocabulary user, empty): (movies int64 sorted within each row, row_splits int64)."""
    return group_by_user(data.user, data.movie, data.num_users)


def group_by_user(users: np.ndarray, movies: np.ndarray, num_users: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`movies_by_user` of any [n] user and movie indices (1-based, users <= num_users)."""
    # Each (user, movie) pair as one int64 key, ordered by user then movie: a 1-D unique (a sort),
    # ~6x faster than np.unique over [n, 2] rows (measured: 20 vs 130 ms for 80,000 rows).
    movies = np.asarray(movies, dtype=np.int64)
    stride = int(movies.max(initial=0)) + 1
    keys = np.unique(np.asarray(users, dtype=np.int64) * stride + movies)
    row_lengths = np.bincount(keys // stride, minlength=num_users + 1)
    return keys % stride, np.concatenate([[0], np.cumsum(row_lengths)]).astype(np.int64)


@dataclass(frozen=True)
class Split:
    """``train`` fits the model, ``val`` (optional, carved out of the training rows) selects the
    epoch, ``test`` is evaluated once at the end."""

    train: Interactions
    test: Interactions
    val: Interactions | None = None


def from_strings(
    user_ids: np.ndarray,
    movie_titles: np.ndarray,
    ratings: np.ndarray,
    timestamps: np.ndarray,
    candidate_titles: np.ndarray,
) -> Interactions:
    """Builds vocabularies the tutorial's way (sorted unique strings) and encodes the rows."""
    user_vocab, user = np.unique(user_ids, return_inverse=True)
    movie_vocab = np.unique(np.concatenate([candidate_titles, movie_titles]))
    movie = np.searchsorted(movie_vocab, movie_titles)
    return Interactions(
        user_vocab=user_vocab,
        movie_vocab=movie_vocab,
        user=(user + 1).astype(np.int32),
        movie=(movie + 1).astype(np.int32),
        rating=np.asarray(ratings, dtype=np.float32),
        timestamp=np.asarray(timestamps, dtype=np.int64),
    )


class Vocabulary:
    """Strings -> provisional codes in order of appearance; sorted into the vocabulary at the end.

    Lets large sources encode chunk by chunk (each chunk passes only its distinct strings), with
    the same result as :func:`from_strings`: sorted unique strings, 1-based indices.
    """

    def __init__(self) -> None:
        self._codes: dict[str, int] = {}

    def encode(self, keys: list[str]) -> np.ndarray:
        """[len(keys)] provisional int64 codes; new keys get the next free codes."""
        return np.fromiter((self._codes.setdefault(k, len(self._codes)) for k in keys), np.int64, len(keys))

    def finish(self) -> tuple[np.ndarray, np.ndarray]:
        """(vocabulary: [num_keys] sorted strings, remap: [num_keys] code -> 1-based int32 index)."""
        keys = np.array(list(self._codes), dtype=str)
        order = np.argsort(keys, kind="stable")
        remap = np.empty(len(keys), dtype=np.int32)
        remap[order] = np.arange(1, len(keys) + 1, dtype=np.int32)
        return keys[order], remap
