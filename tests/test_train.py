"""Training input: batches gathered from a per-epoch permutation, not a per-row shuffle buffer."""

from __future__ import annotations

import numpy as np

from mtrec import data
from mtrec.train import make_dataset


def _epoch(ds) -> np.ndarray:
    return np.concatenate([batch["rating"].numpy() for batch in ds])


def test_shuffled_epochs_cover_every_row_once_and_reshuffle_reproducibly() -> None:
    d = data.make_synthetic(20, 10, 1000, 4, seed=0)
    # Row numbers as ratings, so each batch shows which rows it gathered.
    rows = data.Interactions(d.user_vocab, d.movie_vocab, d.user, d.movie, np.arange(1000.0), d.timestamp)
    ds = make_dataset(rows, 64, shuffle_seed=5)
    batches = list(ds)
    assert [len(b["rating"]) for b in batches] == [64] * 15 + [40]
    first, second = _epoch(ds), _epoch(ds)
    np.testing.assert_array_equal(np.sort(first), np.arange(1000.0))
    np.testing.assert_array_equal(np.sort(second), np.arange(1000.0))
    assert not np.array_equal(first, second)
    # Users, movies and ratings stay aligned row by row.
    batch = batches[0]
    np.testing.assert_array_equal(batch["user"].numpy(), d.user[batch["rating"].numpy().astype(int)])
    np.testing.assert_array_equal(batch["movie"].numpy(), d.movie[batch["rating"].numpy().astype(int)])
    # Same seed: the same sequence of epochs; another seed: another order.
    np.testing.assert_array_equal(_epoch(make_dataset(rows, 64, shuffle_seed=5)), _epoch(batches))
    assert not np.array_equal(_epoch(make_dataset(rows, 64, shuffle_seed=6)), _epoch(batches))


def test_unshuffled_batches_keep_row_order() -> None:
    d = data.make_synthetic(20, 10, 100, 4, seed=0)
    np.testing.assert_array_equal(_epoch(make_dataset(d, 32)), d.rating)
