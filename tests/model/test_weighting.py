"""Learned loss weights against hand-computed numbers: uncertainty weighting's loss and the
gradients of its log-variances, GradNorm's weight step, and both inside the model."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf

from mtrec.model.multitask import MultitaskModel
from mtrec.model.tasks.binary import BinaryTask
from mtrec.model.tasks.regression import RegressionTask
from mtrec.model.tasks.retrieval import RetrievalTask
from mtrec.model.towers import Towers
from mtrec.model.weighting import GradNormWeighting, UncertaintyWeighting

NUM_USERS, NUM_MOVIES = 4, 5
FEATURES = {
    "user": tf.constant([1, 2, 3, 4, 1, 2], tf.int32),
    "movie": tf.constant([2, 5, 1, 3, 4, 4], tf.int32),
    "rating": tf.constant([4.0, 1.0, 5.0, 3.0, 2.0, 4.5]),
}


def test_uncertainty_loss_and_one_sgd_step_on_the_log_variances() -> None:
    # s starts at -log(weight): [0, log 2]. total = e^0 * 2 + 0 + e^-log2 * 0.5 + log 2.
    weighting = UncertaintyWeighting(["rating", "retrieval"], [1.0, 0.5])
    losses = tf.constant([2.0, 0.5])
    np.testing.assert_allclose(weighting.log_variance.numpy(), [0.0, math.log(2)], rtol=1e-6)
    with tf.GradientTape() as tape:
        total = weighting.combine(losses)
    assert float(total) == pytest.approx(2.0 + 0.25 + math.log(2), rel=1e-6)
    gradient = tape.gradient(total, weighting.log_variance)
    np.testing.assert_allclose(gradient.numpy(), [1 - 2.0, 1 - 0.25], rtol=1e-6)  # 1 - e^-s L
    tf.keras.optimizers.SGD(0.1).apply_gradients([(gradient, weighting.log_variance)])
    np.testing.assert_allclose(weighting.log_variance.numpy(), [0.1, math.log(2) - 0.075], rtol=1e-6)
    np.testing.assert_allclose(
        weighting.current_weights().numpy(), [math.exp(-0.1), 0.5 * math.exp(0.075)], rtol=1e-6
    )
    # Two replicas' shares (half the losses each) add up to the one-device total.
    assert 2 * float(weighting.combine(losses / 2, replicas=2)) == pytest.approx(
        float(weighting.combine(losses)), rel=1e-6
    )


def gradnorm(initial_weights: list[float], lr: float = 0.1) -> GradNormWeighting:
    return GradNormWeighting(["a", "b"], initial_weights, tf.keras.optimizers.SGD(lr), alpha=1.5)


def test_gradnorm_gives_weight_to_the_task_whose_loss_falls_slower() -> None:
    weighting = gradnorm([1.0, 1.0])
    # Step 1 records L(0) = [1, 1]: loss ratios 1, equal norms, every G_i on target; no change.
    assert float(weighting.update(tf.constant([1.0, 1.0]), tf.constant([1.0, 1.0]))) == 0.0
    np.testing.assert_allclose(weighting.task_weights.numpy(), [1.0, 1.0])
    # Step 2: task a's loss ratio is 2, b's 1 -> r = [4/3, 2/3]; G = [1, 1], targets r^1.5, so
    # dL_grad/dw = [-1, +1] and SGD(0.1) moves w to [1.1, 0.9] (already summing to 2).
    gradnorm_loss = weighting.update(tf.constant([2.0, 1.0]), tf.constant([1.0, 1.0]))
    assert float(gradnorm_loss) == pytest.approx(abs(1 - (4 / 3) ** 1.5) + abs(1 - (2 / 3) ** 1.5), rel=1e-5)
    np.testing.assert_allclose(weighting.task_weights.numpy(), [1.1, 0.9], rtol=1e-6)
    np.testing.assert_allclose(weighting.initial_losses.numpy(), [1.0, 1.0])


def test_gradnorm_balances_gradient_norms_and_renormalises() -> None:
    # Configured weights [3, 1] start as [1.5, 0.5] (sum = 2 tasks).
    np.testing.assert_allclose(gradnorm([3.0, 1.0]).task_weights.numpy(), [1.5, 0.5])
    weighting = gradnorm([1.0, 1.0])
    # Ratios 1; G = [3, 1], target mean(G) = 2: dL_grad/dw = [+3, -1] -> w = [0.7, 1.1], then
    # renormalised to sum 2.
    weighting.update(tf.constant([5.0, 0.5]), tf.constant([3.0, 1.0]))
    np.testing.assert_allclose(weighting.task_weights.numpy(), [0.7 * 2 / 1.8, 1.1 * 2 / 1.8], rtol=1e-6)
    # A step that overshoots below 0 is clipped: the weights stay positive and sum to 2.
    weighting = gradnorm([1.0, 1.0], lr=10.0)
    weighting.update(tf.constant([5.0, 0.5]), tf.constant([3.0, 1.0]))
    weights = weighting.task_weights.numpy()
    assert (weights > 0).all() and weights.sum() == pytest.approx(2.0)


def make_model(kind: str, weights: tuple[float, float, float]) -> MultitaskModel:
    tf.keras.utils.set_random_seed(0)
    sizes = {"num_users": NUM_USERS, "num_movies": NUM_MOVIES}
    tasks = [
        RegressionTask(**sizes, embedding_dim=3, weight=weights[0], rating_hidden_units=[4]),
        BinaryTask(3, label="rating", name="like", weight=weights[1], threshold=4.0, hidden_units=[4]),
        RetrievalTask(NUM_MOVIES, 3, weight=weights[2], top_k=[1, 2]),
    ]
    trained = [t for t in tasks if t.weight > 0]
    names, initial = [t.name for t in trained], [t.weight for t in trained]
    weighting = (
        UncertaintyWeighting(names, initial)
        if kind == "uncertainty"
        else GradNormWeighting(names, initial, tf.keras.optimizers.SGD(0.01))
    )
    model = MultitaskModel(Towers(**sizes, embedding_dim=3), tasks, weighting=weighting)
    model(FEATURES)
    model.compile(optimizer=tf.keras.optimizers.SGD(0.01))
    return model


def test_uncertainty_model_loss_and_logged_weights() -> None:
    model = make_model("uncertainty", (1.0, 0.0, 0.5))
    assert model.weighting.task_names == ["rating", "retrieval"]  # the zero-weight task is skipped
    model.compute_loss(dict(FEATURES), training=True)
    rating, retrieval = (float(model.task(n).loss_tracker.result()) for n in ("rating", "retrieval"))
    expected = rating + 0.5 * retrieval + math.log(2)  # s = [0, log 2]
    assert float(model.compute_loss(dict(FEATURES), training=True)) == pytest.approx(expected, rel=1e-5)
    assert model.weighting.log_variance.ref() in {v.ref() for v in model.trainable_variables}
    logs = model.train_step(dict(FEATURES))
    assert "like_loss" not in logs
    assert set(logs) >= {"weight/rating", "weight/retrieval"} and "weight/like" not in logs
    # The log-variances moved with the model's optimizer: s_i -= 0.01 * (1 - exp(-s_i) L_i).
    s = [-0.01 * (1 - rating), math.log(2) - 0.01 * (1 - 0.5 * retrieval)]
    assert float(logs["weight/rating"]) == pytest.approx(math.exp(-s[0]), rel=1e-5)
    assert float(logs["weight/retrieval"]) == pytest.approx(math.exp(-s[1]), rel=1e-5)


def test_gradnorm_model_step_keeps_weights_positive_and_summing_to_the_task_count() -> None:
    model = make_model("gradnorm", (1.0, 1.0, 1.0))
    assert model.weighting.task_weights.ref() not in {v.ref() for v in model.trainable_variables}
    embeddings = model.towers.user_embedding.embeddings.numpy().copy()
    logs = model.train_step(dict(FEATURES))
    weights = np.array([float(logs[f"weight/{name}"]) for name in ("rating", "like", "retrieval")])
    assert (weights > 0).all() and weights.sum() == pytest.approx(3.0, rel=1e-6)
    assert not np.allclose(weights, 1.0)  # unequal gradient norms moved them
    losses = [float(model.task(n).loss_tracker.result()) for n in ("rating", "like", "retrieval")]
    np.testing.assert_allclose(model.weighting.initial_losses.numpy(), losses, rtol=1e-5)
    assert not np.allclose(model.towers.user_embedding.embeddings.numpy(), embeddings)


def test_fixed_weighting_logs_no_weights() -> None:
    tf.keras.utils.set_random_seed(0)
    sizes = {"num_users": NUM_USERS, "num_movies": NUM_MOVIES}
    model = MultitaskModel(
        Towers(**sizes, embedding_dim=3),
        [RegressionTask(**sizes, embedding_dim=3, rating_hidden_units=[4]), RetrievalTask(NUM_MOVIES, 3)],
    )
    model(FEATURES)
    model.compile(optimizer=tf.keras.optimizers.SGD(0.01))
    assert model.learned_weights() == {}
    assert not any(name.startswith("weight/") for name in model.train_step(dict(FEATURES)))
