"""mtrec's rank-counted top-K accuracy equals TFRS's FactorizedTopK on the same candidates."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_recommenders as tfrs

from mtrec.model.metrics import TopKAccuracy

KS = [1, 3, 10, 40]


def both_metrics(candidates: np.ndarray) -> tuple[TopKAccuracy, tfrs.metrics.FactorizedTopK]:
    ours = TopKAccuracy(len(candidates), candidates.shape[1], KS)
    ours.index(tf.constant(candidates))
    theirs = tfrs.layers.factorized_top_k.BruteForce(k=max(KS))
    theirs.index(tf.constant(candidates))
    return ours, tfrs.metrics.FactorizedTopK(candidates=theirs, ks=KS)


@pytest.mark.parametrize("integer_scores", [False, True])
def test_equals_factorized_top_k(integer_scores: bool) -> None:
    rng = np.random.default_rng(7)
    # Integer embeddings make many scores tie with the positive's: in_top_k's tie rule must hold too.
    draw = (lambda *s: rng.integers(-2, 3, s)) if integer_scores else (lambda *s: rng.normal(size=s))
    candidates = draw(120, 4).astype(np.float32)
    ours, theirs = both_metrics(candidates)
    for _ in range(3):  # several batches: the metrics are running means
        queries = draw(50, 4).astype(np.float32)
        positives = candidates[rng.integers(0, len(candidates), 50)]
        weights = rng.uniform(0.0, 2.0, 50).astype(np.float32)
        ours.update_state(queries, positives, sample_weight=weights)
        theirs.update_state(queries, positives, sample_weight=weights)
    got, want = [m.numpy() for m in ours.result()], [m.numpy() for m in theirs.result()]
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert len(set(np.round(got, 6))) > 2  # the Ks give different accuracies: a real comparison
    assert [m.name for m in ours.accuracies] == [f"top_{k}_accuracy" for k in KS]


def test_hand_counted_ranks_and_a_non_finite_positive() -> None:
    candidates = np.array([[3.0], [2.0], [1.0], [0.0]], np.float32)
    ours, _ = both_metrics(candidates)
    # Query 1: positive score 2 (1 candidate higher); query 2: 0 (3 higher); query 3: NaN (never a hit).
    queries = np.array([[1.0], [1.0], [np.nan]], np.float32)
    positives = np.array([[2.0], [0.0], [1.0]], np.float32)
    ours.update_state(queries, positives)
    accuracy = dict(zip(KS, (float(m) for m in ours.result())))
    assert accuracy == {1: 0.0, 3: pytest.approx(1 / 3), 10: pytest.approx(2 / 3), 40: pytest.approx(2 / 3)}
