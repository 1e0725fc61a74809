"""Training input: batches gathered from a per-epoch permutation, not a per-row shuffle buffer."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from mtrec import sources
from mtrec.interactions import Interactions
from mtrec.train import make_dataset
from tests.conftest import REPO


def _epoch(ds) -> np.ndarray:
    return np.concatenate([batch["rating"].numpy() for batch in ds])


def test_shuffled_epochs_cover_every_row_once_and_reshuffle_reproducibly() -> None:
    d = sources.make_synthetic(20, 10, 1000, 4, seed=0)
    # Row numbers as ratings, so each batch shows which rows it gathered.
    rows = Interactions(d.user_vocab, d.movie_vocab, d.user, d.movie, np.arange(1000.0), d.timestamp)
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
    d = sources.make_synthetic(20, 10, 100, 4, seed=0)
    np.testing.assert_array_equal(_epoch(make_dataset(d, 32)), d.rating)


@pytest.mark.parametrize("shuffle_seed", [None, 3])
@pytest.mark.parametrize(("num_rows", "sizes"), [(128, [64, 64]), (10, [10]), (130, [64, 64, 2])])
def test_batches_are_whole_except_the_last(shuffle_seed: int | None, num_rows: int, sizes: list[int]) -> None:
    d = sources.make_synthetic(20, 10, num_rows, 4, seed=0)
    rows = Interactions(d.user_vocab, d.movie_vocab, d.user, d.movie, np.arange(float(num_rows)), d.timestamp)
    batches = list(make_dataset(rows, 64, shuffle_seed=shuffle_seed))
    assert [len(b["rating"]) for b in batches] == sizes
    np.testing.assert_array_equal(np.sort(_epoch(batches)), np.arange(float(num_rows)))


RSS_SCRIPT = r"""
import resource, sys
import mtrec
from mtrec import sources
from mtrec.train import make_dataset
rows = sources.make_synthetic(3000, 5000, 2_000_000, 8, seed=1)
ds = make_dataset(rows, 8192, shuffle_seed=1)
next(iter(ds))  # TensorFlow and the pipeline started: the baseline.
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
num_rows = sum(len(batch["rating"]) for batch in ds)
print(num_rows, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
"""


@pytest.mark.slow
def test_an_epoch_of_2m_shuffled_rows_adds_no_per_row_memory() -> None:
    # The per-row shuffle buffer this replaced adds ~800 MB here (measured: 798 MB on these 2M rows).
    out = subprocess.run(
        [sys.executable, "-c", RSS_SCRIPT],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    num_rows, growth_mb = map(int, out.stdout.split())
    assert num_rows == 2_000_000 and growth_mb < 100


def test_a_one_off_evaluation_of_a_few_batches_runs_eagerly_with_the_traced_metrics() -> None:
    import tensorflow as tf

    from mtrec import evaluation, train
    from mtrec.data import random_split
    from mtrec.ranking import SeenMovies
    from tests.conftest import compose_config

    split = random_split(sources.make_synthetic(40, 120, 1500, 4, seed=2), 0.2, seed=2)
    cfg = compose_config("experiment=smoke", "trainer.eval_batch_size=64")  # 300 test rows: 5 batches
    model = train.build_model(cfg, split)
    model.fit(train.make_dataset(split.train, 128, shuffle_seed=1), epochs=1, verbose=0)
    test_ds, seen = train.make_dataset(split.test, 64), SeenMovies(split.train.user, split.train.movie)

    eager = evaluation.evaluate(model, test_ds, split.test, seen, cfg, "test", once=True)
    assert not isinstance(model.test_function, tf.types.experimental.GenericFunction)  # not traced
    assert not model.run_eagerly  # only for that call
    model.test_function = None
    traced = evaluation.evaluate(model, test_ds, split.test, seen, cfg, "test")  # as validation does
    assert isinstance(model.test_function, tf.types.experimental.GenericFunction)
    assert eager.keys() == traced.keys() and "test/top_10_accuracy" in eager and "test/rmse" in eager
    for name in eager:
        np.testing.assert_allclose(eager[name], traced[name], rtol=1e-5, err_msg=name)

    # Too many batches for the one-off shortcut: traced.
    model.test_function = None
    many = cfg.copy()
    many.trainer.eval_batch_size = 300 // (evaluation.EAGER_MAX_BATCHES + 1)
    evaluation.evaluate(model, train.make_dataset(split.test, 32), split.test, seen, many, "test", once=True)
    assert isinstance(model.test_function, tf.types.experimental.GenericFunction)
