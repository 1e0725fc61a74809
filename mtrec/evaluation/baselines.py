"""The baselines that every run is judged against, on its own split.

On MovieLens 100K the tutorial's models barely beat the trivial ones, so every run reports them
beside its own numbers: a popularity recommender (top-K accuracy), and the global-mean and
user+movie-bias rating predictors (RMSE). With :class:`StrongBaselines`, two strong non-neural
ones join them: EASE for retrieval (:mod:`mtrec.evaluation.ease`) and an item-kNN rating predictor
for regression tasks (:mod:`mtrec.evaluation.knn`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

import numpy as np

from mtrec.data.interactions import Interactions, Split
from mtrec.data.labels import TaskLabels
from mtrec.data.splits import carve_validation, refit_split
from mtrec.evaluation.ease import ease_metrics, fit_ease, gram, select_l2
from mtrec.evaluation.knn import knn_predictions, pearson_baseline_similarity

logger = logging.getLogger("mtrec")


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


@dataclass(frozen=True)
class StrongBaselines:
    """What EASE and item-kNN need beyond the split (``baselines.*`` and the trainer's ranking keys).

    Attributes:
      selection: EASE fits ``selection.train`` for each λ of ``ease_l2`` and keeps the best NDCG
        at the first ``ranking_k`` on ``selection.test`` (the run's validation split, or one
        carved from its training rows).
      ranking_k: the K of ``recall_at_K`` and ``ndcg_at_K``.
      exclude_seen: Recall/NDCG never rank a user's earlier movies (the trainer's rule).
      ease_l2: the grid of EASE's L2 weight λ.
      max_items: above this many movies both are skipped (their matrices are movies x movies).
      knn_neighbours: item-kNN's k.
      knn_shrinkage: the shrinkage of item-kNN's similarities.
    """

    selection: Split
    ranking_k: Sequence[int] = (10, 100)
    exclude_seen: bool = True
    ease_l2: Sequence[float] = (50.0, 100.0, 200.0, 500.0, 1000.0)
    max_items: int = 20_000
    knn_neighbours: int = 40
    knn_shrinkage: float = 100.0


def compute_baselines(
    split: Split,
    ks: Sequence[int],
    tasks: Sequence[TaskLabels] = TUTORIAL_TASKS,
    strong: StrongBaselines | None = None,
) -> dict[str, float]:
    """Every baseline metric of each task, named ``baseline/<predictor>/<task prefix><metric>``
    (``baseline/bias/rmse``, ``baseline/bias/like/auc``: the model's metric is ``test/like/auc``).

    Retrieval: popularity over the task's positive training rows (every row, for the tutorial);
    with ``strong``, EASE too (top-K accuracy, Recall/NDCG, and its chosen λ as ``ease/l2``).
    Regression: the global mean and the user + movie bias model; with ``strong``, item-kNN.
    Binary: the training positive rate and a bias-only logistic model (log-loss, AUC); item-kNN
    predicts ratings, not probabilities, so binary tasks get no strong baseline. Regression and
    binary baselines fit only the rows whose label the task may use, as the model does.
    """
    metrics: dict[str, float] = {}
    if strong is not None and split.train.num_movies > strong.max_items:
        logger.info(
            f"baselines: EASE and item-kNN skipped, {split.train.num_movies:,} movies > "
            f"baselines.max_items={strong.max_items:,} (their matrices are movies x movies)"
        )
        strong = None
    for task in tasks:

        def name(predictor_metric: str, task: TaskLabels = task) -> str:
            predictor, metric = predictor_metric.split("/", 1)
            return f"baseline/{predictor}/{task.metric_prefix}{metric}"

        if task.kind == "retrieval":
            positives = Split(task.positive_rows(split.train), task.positive_rows(split.test))
            for k, v in popularity_top_k_accuracy(positives, ks).items():
                metrics[name(f"popularity/top_{k}_accuracy")] = v
            if strong is not None:
                metrics.update(
                    {name(f"ease/{key}"): v for key, v in ease_baseline(split, ks, task, strong).items()}
                )
            continue
        # The task's labels in the rating column, so the rating baselines serve every regression task.
        train = task.labelled_rows(split.train)
        labels = Split(
            replace(train, rating=task.values(train)), replace(split.test, rating=task.values(split.test))
        )
        if task.kind == "regression":
            metrics[name("global_mean/rmse")] = global_mean_rmse(labels)
            metrics[name("bias/rmse")] = _rmse(bias_predictions(labels), labels.test.rating)
            if strong is not None:
                predictions = item_knn_predictions(labels, strong.knn_neighbours, strong.knn_shrinkage)
                metrics[name("knn/rmse")] = _rmse(predictions, labels.test.rating)
        else:
            metrics.update({name(key): v for key, v in binary_baselines(labels).items()})
    return metrics


def run_baselines(
    split: Split,
    ks: Sequence[int],
    tasks: Sequence[TaskLabels],
    refit: bool = False,
    strong: Mapping[str, Any] | None = None,
    selection: tuple[float, int, str, int] = (0.1, 42, "random", 1),
) -> dict[str, float]:
    """A run's baselines (:func:`compute_baselines`) from plain, picklable arguments, so that
    another process can compute them (``mtrec.app.child_call``).

    Args:
      split: the run's split, with its validation rows when it has them.
      refit: the final model trains on training and validation rows together; so do the baselines.
      strong: :class:`StrongBaselines`' options other than ``selection``; None: no EASE or item-kNN.
      selection: without a validation split, EASE's λ is chosen on rows carved out of the final
        training rows by ``carve_validation(final, fraction, seed, rule, leave_out)``.
    """
    final = refit_split(split) if refit else split
    chosen = None
    if strong is not None:
        if split.val is not None:
            rows = Split(split.train, split.val)
        else:
            carved = carve_validation(final, *selection)
            rows = Split(carved.train, cast(Interactions, carved.val))
        chosen = StrongBaselines(selection=rows, **strong)
    return compute_baselines(final, ks, tasks, chosen)


def ease_baseline(
    split: Split, ks: Sequence[int], task: TaskLabels, strong: StrongBaselines
) -> dict[str, float]:
    """EASE's test metrics on the retrieval task's positive rows, λ chosen on ``strong.selection``.

    EASE is fitted on the training positives; Recall/NDCG exclude (with ``exclude_seen``) every
    positive the user had before test, validation's too, as the model's do.
    """
    select = strong.selection
    train, test = task.positive_rows(split.train), task.positive_rows(split.test)
    if len(test) == 0:
        return {}
    l2, _, weights = select_l2(
        task.positive_rows(select.train),
        task.positive_rows(select.test),
        strong.ease_l2,
        min(strong.ranking_k, default=10),
        strong.exclude_seen,
    )
    if weights is None or select.train is not split.train:  # fitted on other rows than the final
        weights = fit_ease(gram(train), l2)
    seen = None
    if strong.exclude_seen:
        seen = train if split.val is None else train.concat(task.positive_rows(split.val))
    return {
        **ease_metrics(train, test, weights, ks, strong.ranking_k, seen),
        "l2": l2,
    }


def item_knn_predictions(split: Split, k: int = 40, shrinkage: float = 100.0) -> np.ndarray:
    """Test predictions of item-kNN with baseline estimates (:mod:`mtrec.evaluation.knn`) on the
    :func:`fit_biases` baseline, clipped to the training ratings' range as Surprise does."""
    train = split.train
    baseline = fit_biases(train)
    similarity = pearson_baseline_similarity(train, baseline, shrinkage)
    predictions = knn_predictions(train, split.test, similarity, baseline, k)
    return np.clip(predictions, train.rating.min(), train.rating.max())


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
