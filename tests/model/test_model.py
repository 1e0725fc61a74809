"""The multitask model against hand-computed numbers."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_recommenders as tfrs

from mtrec.model.multitask import MultitaskModel
from mtrec.model.tasks.regression import RegressionTask
from mtrec.model.tasks.retrieval import RetrievalTask
from mtrec.model.towers import Towers

USERS = np.array(["u1", "u2", "u3", "u4"])
MOVIES = np.array(["m1", "m2", "m3", "m4", "m5"])


FEATURES = {
    "user": tf.constant([1, 2, 3, 4], tf.int32),
    "movie": tf.constant([2, 5, 1, 3], tf.int32),
    "rating": tf.constant([4.0, 1.0, 5.0, 3.0]),
}


def make_model(
    rating_weight: float,
    retrieval_weight: float,
    towers: dict | None = None,
    retrieval: dict | None = None,
) -> MultitaskModel:
    """A tiny built model; ``towers`` and ``retrieval`` are more arguments of those components."""
    tf.keras.utils.set_random_seed(0)
    sizes = {"num_users": len(USERS), "num_movies": len(MOVIES)}
    model = MultitaskModel(
        Towers(**sizes, embedding_dim=3, **(towers or {})),
        [
            RegressionTask(**sizes, embedding_dim=3, weight=rating_weight, rating_hidden_units=[4]),
            RetrievalTask(len(MOVIES), 3, weight=retrieval_weight, top_k=[1, 2], **(retrieval or {})),
        ],
    )
    model(FEATURES)
    model.index_candidates()
    return model


def expected_losses(model: MultitaskModel) -> tuple[float, float]:
    """MSE of the rating head, and the in-batch softmax cross-entropy summed over the batch."""
    users = model.towers.user_embedding.embeddings.numpy()[FEATURES["user"].numpy()]
    movies = model.towers.movie_embedding.embeddings.numpy()[FEATURES["movie"].numpy()]
    predictions = model.task("rating").predict(tf.constant(users), tf.constant(movies)).numpy()[:, 0]
    mse = np.mean((predictions - FEATURES["rating"].numpy()) ** 2)
    logits = users.astype(np.float64) @ movies.T.astype(np.float64)
    log_softmax = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return float(mse), float(-np.trace(log_softmax))


@pytest.mark.parametrize("weights", [(1.0, 1.0), (0.3, 2.0), (1.0, 0.0), (0.0, 0.5)])
def test_loss_is_the_weighted_sum(weights: tuple[float, float]) -> None:
    model = make_model(*weights)
    mse, softmax_ce = expected_losses(model)
    for training in (False, True):
        loss = model.compute_loss(dict(FEATURES), training=training).numpy()
        assert loss == pytest.approx(weights[0] * mse + weights[1] * softmax_ce, rel=1e-5)


def test_repeated_users_and_movies_give_tfrs_loss_and_gradients() -> None:
    # The towers run once per distinct id and the softmax is taken over distinct users and movies
    # (mtrec.losses.grouped_in_batch_softmax_loss); TFRS scores the rows as they are.
    model = make_model(1.0, 1.0)
    features = {
        "user": tf.constant([1, 2, 1, 3, 1, 2], tf.int32),
        "movie": tf.constant([2, 2, 5, 1, 2, 4], tf.int32),
        "rating": tf.constant([4.0, 1.0, 5.0, 3.0, 2.0, 4.0]),
    }
    task = tfrs.tasks.Retrieval()
    with tf.GradientTape(persistent=True) as tape:
        users = model.towers.user_embedding(features["user"])
        movies = model.towers.movie_embedding(features["movie"])
        rating = model.task("rating").predict(users, movies)[:, 0]
        expected = tf.reduce_mean(tf.square(rating - features["rating"])) + task(
            users, movies, compute_metrics=False
        )
        loss = model.compute_loss(features, training=True)
    assert float(loss) == pytest.approx(float(expected), rel=1e-5)
    variables = model.trainable_variables
    for got, want in zip(tape.gradient(loss, variables), tape.gradient(expected, variables)):
        np.testing.assert_allclose(
            tf.convert_to_tensor(got).numpy(), tf.convert_to_tensor(want).numpy(), rtol=1e-4, atol=1e-5
        )


def test_zero_weight_task_is_skipped_in_training_only() -> None:
    model = make_model(0.0, 1.0)
    model.compile(optimizer=tf.keras.optimizers.Adagrad(0.1))
    head_before = [w.numpy().copy() for w in model.task("rating").head.weights]
    logs = model.train_step(dict(FEATURES))
    assert "rating_loss" not in logs and "retrieval_loss" in logs
    for before, after in zip(head_before, model.task("rating").head.weights):
        np.testing.assert_array_equal(before, after.numpy())
    model.index_candidates()
    logs = model.test_step(dict(FEATURES))
    assert {"rating_loss", "rmse", "top_1_accuracy"} <= set(logs)


def test_top_k_counts_the_true_movie_among_all_candidates() -> None:
    model = make_model(1.0, 1.0)
    model.index_candidates()
    model.reset_metrics()
    model.test_step(dict(FEATURES))
    users = model.towers.user_embedding.embeddings.numpy()[1:]
    movies = model.towers.movie_embedding.embeddings.numpy()[1:]
    scores = users @ movies.T  # [4 users, 5 movies]
    true = FEATURES["movie"].numpy() - 1
    rank = (scores > scores[np.arange(4), true][:, None]).sum(axis=1)  # 0 = ranked first
    metrics = {m.name: float(m.result()) for m in model.metrics}
    assert metrics["top_1_accuracy"] == pytest.approx(np.mean(rank < 1))
    assert metrics["top_2_accuracy"] == pytest.approx(np.mean(rank < 2))


def test_side_features_add_a_learned_projection_to_each_tower() -> None:
    rng = np.random.default_rng(0)
    user_features = rng.integers(0, 2, (len(USERS) + 1, 3)).astype(np.float32)
    movie_features = rng.integers(0, 2, (len(MOVIES) + 1, 4)).astype(np.float32)
    model = make_model(1.0, 1.0, towers={"user_features": user_features, "movie_features": movie_features})
    towers = model.towers
    users, movies = FEATURES["user"].numpy(), FEATURES["movie"].numpy()
    user_projection = towers.user_feature_projection.kernel.numpy()  # [3 features, 3 dims]
    movie_projection = towers.movie_feature_projection.kernel.numpy()
    want_users = towers.user_embedding.embeddings.numpy()[users] + user_features[users] @ user_projection
    want_movies = (
        towers.movie_embedding.embeddings.numpy()[movies] + movie_features[movies] @ movie_projection
    )
    np.testing.assert_allclose(towers.user(FEATURES["user"]).numpy(), want_users, rtol=1e-6)
    np.testing.assert_allclose(towers.movie(FEATURES["movie"]).numpy(), want_movies, rtol=1e-6)
    # Both projections are trained (they get gradients from the joint loss).
    with tf.GradientTape() as tape:
        loss = model.compute_loss(FEATURES, training=True)
    grads = tape.gradient(
        loss, [towers.user_feature_projection.kernel, towers.movie_feature_projection.kernel]
    )
    assert all(g is not None and np.abs(g.numpy()).sum() > 0 for g in grads)


def test_all_candidates_softmax_is_the_cross_entropy_over_the_whole_catalogue() -> None:
    model = make_model(0.0, 1.0, retrieval={"retrieval_candidates": "all"})
    users = model.towers.user_embedding.embeddings.numpy()[FEATURES["user"].numpy()].astype(np.float64)
    catalogue = model.towers.movie_embedding.embeddings.numpy()[1:].astype(np.float64)  # 1..5, not OOV 0
    logits = users @ catalogue.T
    log_softmax = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    want = -log_softmax[np.arange(4), FEATURES["movie"].numpy() - 1].sum()
    assert model.compute_loss(dict(FEATURES), training=True).numpy() == pytest.approx(want, rel=1e-5)
    with pytest.raises(ValueError, match="retrieval_candidates must be 'in_batch' or 'all'"):
        RetrievalTask(len(MOVIES), 3, retrieval_candidates="sampled")


def test_popularity_prior_shifts_ranking_scores_but_not_the_training_loss() -> None:
    bias = np.array([0.0, 3.0, -1.0, 0.5, 0.0, 2.0], np.float32)  # [OOV, m1..m5]
    plain = make_model(1.0, 1.0)
    model = make_model(1.0, 1.0, retrieval={"movie_score_bias": bias})
    for layer in ("user_embedding", "movie_embedding"):  # the same weights as `plain`
        getattr(model.towers, layer).set_weights(getattr(plain.towers, layer).get_weights())
    model.task("rating").head.set_weights(plain.task("rating").head.get_weights())
    assert model.compute_loss(dict(FEATURES), training=True).numpy() == pytest.approx(
        plain.compute_loss(dict(FEATURES), training=True).numpy()
    )
    candidates = model.index_candidates()
    model.reset_metrics()
    model.test_step(dict(FEATURES))
    users = model.towers.user_embedding.embeddings.numpy()[1:]
    movies = model.towers.movie_embedding.embeddings.numpy()[1:]
    scores = users @ movies.T + bias[1:]  # [4 users, 5 movies]
    np.testing.assert_allclose(
        model.retrieval.score_queries(tf.constant(users)).numpy() @ candidates.numpy().T,
        scores,
        rtol=1e-5,
        atol=1e-6,
    )
    true = FEATURES["movie"].numpy() - 1
    rank = (scores > scores[np.arange(4), true][:, None]).sum(axis=1)
    metrics = {m.name: float(m.result()) for m in model.metrics}
    assert metrics["top_1_accuracy"] == pytest.approx(np.mean(rank < 1))
    assert metrics["top_2_accuracy"] == pytest.approx(np.mean(rank < 2))
