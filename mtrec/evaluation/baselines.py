"""Trivial baselines that every run is judged against, on its own split.

On MovieLens 100K the tutorial's models barely beat these, so every run reports them beside its
own numbers: a popularity recommender (top-K accuracy), and the global-mean and user+movie-bias
rating predictors (RMSE).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from mtrec.data.interactions import Interactions, Split
from mtrec.data.labels import TaskLabels


def popularity_top_k_accuracy(split: Split, ks: Sequence[int]) -> dict[int, float]:
    """Share of test (user, movie) pairs whose movie is among the K most-rated training movies.

    The same measure as the model's top-K accuracy: one ranking of every movie, scored against
    each test pair; here the ranking ignores the user. Ties in count go to the lower movie index.
    """
    counts = np.bincount(split.train.movie, minlength=split.train.num_movies + 1)[1:]
    order = np.argsort(-counts, kind="stable")  # order[r] = movie index - 1 at rank r
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    test_rank = rank[split.test.movie - 1]
    return {k: float(np.mean(test_rank < k)) for k in ks}


def _rmse(predictions: np.ndarray, ratings: np.ndarray) -> float:
    return float(np.sqrt(np.mean((predictions - ratings) ** 2)))


def global_mean_rmse(split: Split) -> float:
    """RMSE on test of predicting the mean training rating for every pair."""
    return _rmse(np.full(len(split.test), split.train.rating.mean()), split.test.rating)


def _safe_divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, 0 where nothing was observed (the OOV slot, unrated movies)."""
    return np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0)


def fit_biases(
    train: Interactions, reg_user: float = 15.0, reg_movie: float = 10.0, num_epochs: int = 10
) -> tuple[float, np.ndarray, np.ndarray]:
    """``mean + b_user + b_movie`` fitted by alternating least squares on ``train``'s rows.

    The baseline predictor of Koren (2010) with Surprise's ``BaselineOnly`` defaults (ALS,
    reg_u=15, reg_i=10, 10 epochs). Returns the mean and [num_users + 1], [num_movies + 1] biases;
    unseen users or movies (and index 0) get 0.
    """
    mu = float(train.rating.mean())
    user_bias = np.zeros(train.num_users + 1)
    movie_bias = np.zeros(train.num_movies + 1)
    user_count = np.bincount(train.user, minlength=train.num_users + 1)
    movie_count = np.bincount(train.movie, minlength=train.num_movies + 1)
    for _ in range(num_epochs):
        residual = train.rating - mu - movie_bias[train.movie]
        user_bias = _safe_divide(
            np.bincount(train.user, residual, train.num_users + 1), reg_user + user_count
        )
        residual = train.rating - mu - user_bias[train.user]
        movie_bias = _safe_divide(
            np.bincount(train.movie, residual, train.num_movies + 1), reg_movie + movie_count
        )
    return mu, user_bias, movie_bias


def bias_predictions(
    split: Split, reg_user: float = 15.0, reg_movie: float = 10.0, num_epochs: int = 10
) -> np.ndarray:
    """Test predictions of the :func:`fit_biases` baseline, clipped to the training ratings' range
    as Surprise does."""
    train = split.train
    mu, user_bias, movie_bias = fit_biases(train, reg_user, reg_movie, num_epochs)
    test = split.test
    predictions = mu + user_bias[test.user] + movie_bias[test.movie]
    return np.clip(predictions, train.rating.min(), train.rating.max())


def labelled(data: Interactions, task: str = "rating") -> Interactions:
    """The rows whose label ``task`` may learn from (all of them unless its labels are masked)."""
    return TaskLabels(task, "regression").labelled_rows(data)


TUTORIAL_TASKS = (TaskLabels("rating", "regression", "rating"), TaskLabels("retrieval", "retrieval"))


def compute_baselines(
    split: Split, ks: Sequence[int], tasks: Sequence[TaskLabels] = TUTORIAL_TASKS
) -> dict[str, float]:
    """Every baseline metric of each task, named ``baseline/<predictor>/<task prefix><metric>``
    (``baseline/bias/rmse``, ``baseline/bias/like/auc``: the model's metric is ``test/like/auc``).

    Retrieval: popularity over the task's positive training rows (every row, for the tutorial).
    Regression: the global mean and the user + movie bias model. Binary: the training positive
    rate and a bias-only logistic model (log-loss, AUC). Regression and binary baselines fit only
    the rows whose label the task may use, as the model does.
    """
    metrics: dict[str, float] = {}
    for task in tasks:

        def name(predictor_metric: str, task: TaskLabels = task) -> str:
            predictor, metric = predictor_metric.split("/", 1)
            return f"baseline/{predictor}/{task.metric_prefix}{metric}"

        if task.kind == "retrieval":
            positives = Split(task.positive_rows(split.train), task.positive_rows(split.test))
            for k, v in popularity_top_k_accuracy(positives, ks).items():
                metrics[name(f"popularity/top_{k}_accuracy")] = v
            continue
        # The task's labels in the rating column, so the rating baselines serve every regression task.
        train = task.labelled_rows(split.train)
        labels = Split(
            replace(train, rating=task.values(train)), replace(split.test, rating=task.values(split.test))
        )
        if task.kind == "regression":
            metrics[name("global_mean/rmse")] = global_mean_rmse(labels)
            metrics[name("bias/rmse")] = _rmse(bias_predictions(labels), labels.test.rating)
        else:
            metrics.update({name(key): v for key, v in binary_baselines(labels).items()})
    return metrics


def binary_baselines(split: Split, reg: float = 1.0, num_epochs: int = 10) -> dict[str, float]:
    """Log-loss of the training positive rate, and log-loss and AUC of a bias-only logistic model
    (``sigmoid(b + b_user + b_movie)``, fitted by alternating one-dimensional Newton steps with
    L2 weight ``reg``); 0/1 labels in ``rating``."""
    train, test = split.train, split.test
    y = train.rating.astype(np.float64)
    rate = float(np.clip(y.mean(), 1e-6, 1 - 1e-6))
    logit = lambda p: np.log(p / (1 - p))  # noqa: E731
    b0, user_bias, movie_bias = logit(rate), np.zeros(train.num_users + 1), np.zeros(train.num_movies + 1)
    for _ in range(num_epochs):
        for index, bias, size in (
            (train.user, user_bias, train.num_users),
            (train.movie, movie_bias, train.num_movies),
        ):
            p = 1 / (1 + np.exp(-(b0 + user_bias[train.user] + movie_bias[train.movie])))
            grad = np.bincount(index, p - y, size + 1) + reg * bias
            hess = np.bincount(index, p * (1 - p), size + 1) + reg
            bias -= grad / hess
    scores = b0 + user_bias[test.user] + movie_bias[test.movie]
    return {
        "positive_rate/log_loss": _log_loss(test.rating, np.full(len(test), rate)),
        "bias/log_loss": _log_loss(test.rating, 1 / (1 + np.exp(-scores))),
        "bias/auc": auc(test.rating, scores) if 0 < test.rating.mean() < 1 else math.nan,
    }


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC of 0/1 ``labels`` ranked by ``scores`` (Mann-Whitney U; ties count one half)."""
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    ranks = (ends - (counts - 1) / 2.0)[inverse]  # 1-based average rank of each score
    positives = labels > 0
    n_pos, n_neg = int(positives.sum()), int((~positives).sum())
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _log_loss(labels: np.ndarray, probabilities: np.ndarray) -> float:
    p = np.clip(probabilities, 1e-7, 1 - 1e-7)
    return float(-np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p)))
