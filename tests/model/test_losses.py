"""The blocked in-batch softmax loss equals TFRS's Retrieval loss, in value and gradients."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_recommenders as tfrs

from mtrec.model.losses import grouped_in_batch_softmax_loss, in_batch_softmax_loss, weighted_logsumexp


def tfrs_loss_and_grads(queries: tf.Variable, candidates: tf.Variable):
    task = tfrs.tasks.Retrieval()
    with tf.GradientTape() as tape:
        loss = task(queries, candidates, compute_metrics=False, compute_batch_metrics=False)
    return loss, tape.gradient(loss, [queries, candidates])


@pytest.mark.parametrize(
    "num_queries,num_candidates,block_rows",
    [(7, 7, 3), (64, 64, 64), (100, 100, 16), (33, 50, 8), (1, 1, 4), (300, 300, 512)],
)
def test_matches_tfrs_value_and_gradients(num_queries: int, num_candidates: int, block_rows: int) -> None:
    rng = np.random.default_rng(num_queries)
    queries = tf.Variable(rng.normal(size=(num_queries, 5)).astype(np.float32))
    candidates = tf.Variable(rng.normal(size=(num_candidates, 5)).astype(np.float32))
    expected, expected_grads = tfrs_loss_and_grads(queries, candidates)
    with tf.GradientTape() as tape:
        loss = in_batch_softmax_loss(queries, candidates, block_rows=block_rows)
    grads = tape.gradient(loss, [queries, candidates])
    # abs: one query and one candidate give exactly 0 in TFRS, and -6e-8 here (the positive's logit
    # is a row sum, the normalizer's a matmul).
    assert float(loss) == pytest.approx(float(expected), rel=1e-5, abs=1e-6)
    for got, want in zip(grads, expected_grads):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-4, atol=1e-5)


def test_hand_computed_two_by_two() -> None:
    q = tf.constant([[1.0, 0.0], [0.0, 2.0]])
    c = tf.constant([[1.0, 0.0], [1.0, 1.0]])
    # logits [[1, 1], [0, 2]]: -log(e/(e+e)) + -log(e^2/(1+e^2))
    expected = np.log(2.0) + np.log1p(np.exp(-2.0))
    assert float(in_batch_softmax_loss(q, c, block_rows=1)) == pytest.approx(expected, rel=1e-6)


def test_upstream_gradient_scales_through_a_loss_weight() -> None:
    q = tf.Variable(tf.random.stateless_normal((20, 4), seed=(1, 2)))
    c = tf.Variable(tf.random.stateless_normal((20, 4), seed=(3, 4)))
    with tf.GradientTape(persistent=True) as tape:
        plain = in_batch_softmax_loss(q, c, block_rows=6)
        weighted = 0.25 * in_batch_softmax_loss(q, c, block_rows=6)
    np.testing.assert_allclose(
        tape.gradient(weighted, q).numpy(), 0.25 * tape.gradient(plain, q).numpy(), rtol=1e-5
    )


def test_log_q_correction_matches_tfrs() -> None:
    rng = np.random.default_rng(3)
    queries = tf.Variable(rng.normal(size=(40, 4)).astype(np.float32))
    candidates = tf.Variable(rng.normal(size=(40, 4)).astype(np.float32))
    probability = rng.uniform(0.001, 0.2, size=40).astype(np.float32)
    task = tfrs.tasks.Retrieval()
    with tf.GradientTape(persistent=True) as tape:
        expected = task(
            queries, candidates, candidate_sampling_probability=probability, compute_metrics=False
        )
        loss = in_batch_softmax_loss(queries, candidates, block_rows=16, candidate_log_q=np.log(probability))
        plain = in_batch_softmax_loss(queries, candidates, block_rows=16)
    assert float(loss) == pytest.approx(float(expected), rel=1e-5)
    assert abs(float(loss) - float(plain)) > 1e-3  # the correction changes the loss
    for got, want in zip(
        tape.gradient(loss, [queries, candidates]), tape.gradient(expected, [queries, candidates])
    ):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-4, atol=1e-5)


def test_positive_offset_picks_each_querys_positive_further_down() -> None:
    rng = np.random.default_rng(3)
    q, c = rng.normal(size=(3, 4)), rng.normal(size=(7, 4))
    logits = q @ c.T
    # Query i's positive is candidate 2 + i (a replica's rows inside the gathered global batch).
    expected = sum(np.log(np.exp(logits[i]).sum()) - logits[i, 2 + i] for i in range(3))
    got = in_batch_softmax_loss(tf.constant(q, tf.float32), tf.constant(c, tf.float32), 2, positive_offset=2)
    assert float(got) == pytest.approx(expected, rel=1e-5)


def test_only_the_first_num_scored_queries_are_scored() -> None:
    # Grouped batches are padded to a few fixed shapes; the loop stops at the last real block, so
    # rows past it cost nothing (and here, with weight 1, visibly add nothing either).
    rng = np.random.default_rng(5)
    q = tf.Variable(rng.normal(size=(96, 4)).astype(np.float32))
    c = tf.constant(rng.normal(size=(50, 4)).astype(np.float32))
    with tf.GradientTape() as tape:
        got = weighted_logsumexp(q, tf.ones([96]), c, tf.zeros([50]), block_rows=32, num_scored=64)
    logits = q.numpy()[:64] @ c.numpy().T
    expected = np.log(np.exp(logits).sum(axis=1)).sum()
    assert float(got) == pytest.approx(expected, rel=1e-5)
    d_q = tape.gradient(got, q).numpy()
    assert np.abs(d_q[:64]).min() > 0
    np.testing.assert_array_equal(d_q[64:], np.zeros((32, 4)))


def test_no_queries_give_zero_loss_and_zero_gradients() -> None:
    # A replica can get no rows of an epoch's last batch; the others still score its candidates.
    q = tf.Variable(tf.zeros((0, 4)))
    c = tf.Variable(tf.random.stateless_normal((3, 4), seed=(5, 6)))
    with tf.GradientTape() as tape:
        loss = in_batch_softmax_loss(q, c, block_rows=2)
    d_q, d_c = tape.gradient(loss, [q, c])
    assert float(loss) == 0.0 and d_q.shape == (0, 4)
    np.testing.assert_array_equal(d_c.numpy(), np.zeros((3, 4)))


# Dense, and the padded blocked kernel: its loop stops at the last real user (30 users: within the
# first block of 32; 70: a third, partial block), and the padding to whole buckets scores nothing.
@pytest.mark.parametrize("max_dense_logits", [1 << 22, 0])
@pytest.mark.parametrize("num_users", [30, 70])
def test_grouped_loss_matches_tfrs_on_a_batch_of_repeated_ids(max_dense_logits: int, num_users: int) -> None:
    rng = np.random.default_rng(11)
    users, movies = rng.integers(0, num_users, 400), rng.integers(0, 60, 400)  # every id repeats
    _, user_index = np.unique(users, return_inverse=True)
    _, movie_index = np.unique(movies, return_inverse=True)
    queries = tf.Variable(rng.normal(size=(user_index.max() + 1, 5)).astype(np.float32))
    candidates = tf.Variable(rng.normal(size=(movie_index.max() + 1, 5)).astype(np.float32))
    log_q = np.log(rng.uniform(0.001, 0.2, size=candidates.shape[0])).astype(np.float32)
    task = tfrs.tasks.Retrieval()
    with tf.GradientTape(persistent=True) as tape:
        expected = task(  # TFRS on the batch's rows as they are: [400, 400] logits
            tf.gather(queries, user_index),
            tf.gather(candidates, movie_index),
            candidate_sampling_probability=np.exp(log_q[movie_index]),
            compute_metrics=False,
        )
        loss = grouped_in_batch_softmax_loss(
            queries,
            tf.constant(user_index, tf.int32),
            candidates,
            tf.constant(movie_index, tf.int32),
            log_q,
            max_dense_logits=max_dense_logits,
        )
    assert float(loss) == pytest.approx(float(expected), rel=1e-5)
    for got, want in zip(
        tape.gradient(loss, [queries, candidates]), tape.gradient(expected, [queries, candidates])
    ):
        np.testing.assert_allclose(
            tf.convert_to_tensor(got).numpy(), tf.convert_to_tensor(want).numpy(), rtol=1e-4, atol=1e-4
        )
