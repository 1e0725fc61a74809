"""Any number of tasks: a 3-task model against hand-computed numbers, the binary task's loss and
metrics, retrieval over a label's positive rows, and label masks per task."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_recommenders as tfrs

from mtrec.model.losses import grouped_in_batch_softmax_loss
from mtrec.model.multitask import MultitaskModel
from mtrec.model.tasks.binary import BinaryTask
from mtrec.model.tasks.regression import RegressionTask
from mtrec.model.tasks.retrieval import RetrievalTask
from mtrec.model.towers import Towers

NUM_USERS, NUM_MOVIES = 4, 5
FEATURES = {
    "user": tf.constant([1, 2, 3, 4, 1, 2], tf.int32),
    "movie": tf.constant([2, 5, 1, 3, 4, 4], tf.int32),
    "rating": tf.constant([4.0, 1.0, 5.0, 3.0, 2.0, 4.5]),
    "click": tf.constant([1.0, 0.0, 1.0, 1.0, 0.0, 1.0]),
}


def three_tasks(weights: tuple[float, float, float], retrieval_label: str | None = None) -> MultitaskModel:
    tf.keras.utils.set_random_seed(0)
    sizes = {"num_users": NUM_USERS, "num_movies": NUM_MOVIES}
    model = MultitaskModel(
        Towers(**sizes, embedding_dim=3),
        [
            RegressionTask(**sizes, embedding_dim=3, weight=weights[0], rating_hidden_units=[4]),
            BinaryTask(
                3,
                label="rating",
                name="like",
                weight=weights[1],
                threshold=4.0,
                hidden_units=[4],
                metric_prefix="like/",
            ),
            RetrievalTask(NUM_MOVIES, 3, weight=weights[2], top_k=[1, 2], label=retrieval_label),
        ],
    )
    model(FEATURES)
    model.index_candidates()
    return model


def hand_losses(model: MultitaskModel, features: dict) -> tuple[float, float, float]:
    """MSE, mean log-loss of rating >= 4, and TFRS's summed in-batch softmax, in numpy/TFRS."""
    users = model.towers.user_embedding(features["user"])
    movies = model.towers.movie_embedding(features["movie"])
    rating = model.task("rating").predict(users, movies).numpy()[:, 0]
    mse = np.mean((rating - features["rating"].numpy()) ** 2)
    p = model.task("like").predict(users, movies).numpy()[:, 0].astype(np.float64)
    y = (features["rating"].numpy() >= 4).astype(np.float64)
    log_loss = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    softmax = float(tfrs.tasks.Retrieval()(users, movies, compute_metrics=False))
    return float(mse), float(log_loss), softmax


@pytest.mark.parametrize("weights", [(1.0, 1.0, 1.0), (0.3, 2.0, 0.1), (0.0, 1.0, 0.5), (1.0, 0.0, 0.0)])
def test_three_task_loss_is_the_hand_computed_weighted_sum(weights) -> None:
    model = three_tasks(weights)
    mse, log_loss, softmax = hand_losses(model, FEATURES)
    expected = weights[0] * mse + weights[1] * log_loss + weights[2] * softmax
    for training in (False, True):
        assert float(model.compute_loss(dict(FEATURES), training=training)) == pytest.approx(
            expected, rel=1e-5
        )


def test_a_zero_weight_task_adds_no_gradient() -> None:
    model = three_tasks((1.0, 0.0, 1.0))
    with tf.GradientTape() as tape:
        loss = model.compute_loss(dict(FEATURES), training=True)
    head = model.task("like").head.trainable_variables
    assert all(g is None for g in tape.gradient(loss, head))
    # ... while with a weight the same head does get one (so the check above can fail).
    model = three_tasks((1.0, 1.0, 1.0))
    with tf.GradientTape() as tape:
        loss = model.compute_loss(dict(FEATURES), training=True)
    assert all(g is not None for g in tape.gradient(loss, model.task("like").head.trainable_variables))


def test_binary_metrics_match_hand_computed_auc_and_log_loss() -> None:
    model = three_tasks((1.0, 1.0, 1.0))
    output = model.task("like").head.layers[-1]
    output.kernel.assign(output.kernel * 20.0)  # logits spread over the metric's thresholds
    model.reset_metrics()
    logs = model.test_step(dict(FEATURES))
    users = model.towers.user_embedding(FEATURES["user"])
    movies = model.towers.movie_embedding(FEATURES["movie"])
    p = model.task("like").predict(users, movies).numpy()[:, 0].astype(np.float64)
    y = (FEATURES["rating"].numpy() >= 4).astype(np.float64)
    pairs = [(i, j) for i in np.flatnonzero(y) for j in np.flatnonzero(1 - y)]
    auc = np.mean([1.0 if p[i] > p[j] else 0.5 if p[i] == p[j] else 0.0 for i, j in pairs])
    assert len(set(np.round(p, 3))) == len(p)  # distinct predictions: the AUC is not all ties
    assert float(logs["like/auc"]) == pytest.approx(auc, abs=1e-6)
    assert float(logs["like/log_loss"]) == pytest.approx(
        -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)), rel=1e-4
    )
    assert float(logs["like_loss"]) == pytest.approx(float(logs["like/log_loss"]), rel=1e-4)


def test_masked_rows_add_nothing_to_their_task_only() -> None:
    model = three_tasks((0.0, 1.0, 0.0))
    mask = tf.constant([1.0, 1.0, 0.0, 1.0, 0.0, 1.0])
    masked = dict(FEATURES, like_mask=mask)
    # Flipping the label of masked rows changes nothing; the loss is the mean over unmasked rows.
    flipped = dict(masked, rating=tf.where(mask > 0, FEATURES["rating"], 5.0 - FEATURES["rating"]))
    a = float(model.compute_loss(masked, training=True))
    b = float(model.compute_loss(flipped, training=True))
    assert a == pytest.approx(b, rel=1e-6)
    keep = mask.numpy() > 0
    subset = {k: tf.constant(v.numpy()[keep]) for k, v in FEATURES.items()}
    assert a == pytest.approx(float(model.compute_loss(subset, training=True)), rel=1e-5)


def test_retrieval_over_positive_rows_is_tfrs_with_sample_weights() -> None:
    model = three_tasks((0.0, 0.0, 1.0), retrieval_label="click")
    with tf.GradientTape(persistent=True) as tape:
        users = model.towers.user_embedding(FEATURES["user"])
        movies = model.towers.movie_embedding(FEATURES["movie"])
        expected = tfrs.tasks.Retrieval()(
            users, movies, sample_weight=FEATURES["click"], compute_metrics=False
        )
        loss = model.compute_loss(dict(FEATURES), training=True)
    assert float(loss) == pytest.approx(float(expected), rel=1e-5)
    variables = model.towers.trainable_variables
    for got, want in zip(tape.gradient(loss, variables), tape.gradient(expected, variables)):
        np.testing.assert_allclose(
            tf.convert_to_tensor(got).numpy(), tf.convert_to_tensor(want).numpy(), rtol=1e-4, atol=1e-6
        )


def test_grouped_softmax_with_unit_weights_is_the_unweighted_one() -> None:
    rng = np.random.default_rng(0)
    queries, candidates = (
        tf.constant(rng.normal(size=(3, 4)), tf.float32),
        tf.constant(rng.normal(size=(5, 4)), tf.float32),
    )
    qi, ci = tf.constant([0, 1, 0, 2, 1]), tf.constant([0, 1, 2, 3, 4])
    plain = grouped_in_batch_softmax_loss(queries, qi, candidates, ci)
    weighted = grouped_in_batch_softmax_loss(queries, qi, candidates, ci, row_weights=tf.ones([5]))
    assert float(plain) == pytest.approx(float(weighted), rel=1e-6)
    half = grouped_in_batch_softmax_loss(queries, qi, candidates, ci, row_weights=tf.fill([5], 0.5))
    assert float(half) == pytest.approx(0.5 * float(plain), rel=1e-5)
