"""Trivial baselines that every run is judged against, on its own split.

On MovieLens 100K the tutorial's models barely beat these, so every run reports them beside its
own numbers: a popularity recommender (top-K accuracy), and the global-mean and user+movie-bias
rating predictors (RMSE).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from mtrec.data.interactions import Interactions, Split


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


def labelled(data: Interactions) -> Interactions:
    """The rows whose rating the model may learn from (all of them unless ratings are masked)."""
    return data if data.labeled is None else data.take(np.flatnonzero(data.labeled))


def compute_baselines(split: Split, ks: Sequence[int]) -> dict[str, float]:
    """Every baseline metric, named ``baseline/<predictor>/<metric>``.

    Popularity counts every training row; the rating baselines fit only the rows whose rating is
    labelled (``dataset.rating_fraction``), as the model does.
    """
    metrics = {
        f"baseline/popularity/top_{k}_accuracy": v for k, v in popularity_top_k_accuracy(split, ks).items()
    }
    split = replace(split, train=labelled(split.train))
    metrics["baseline/global_mean/rmse"] = global_mean_rmse(split)
    metrics["baseline/bias/rmse"] = _rmse(bias_predictions(split), split.test.rating)
    return metrics
