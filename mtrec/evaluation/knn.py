"""Item-based k-nearest-neighbour rating predictor with baseline estimates: the regression baseline.

Koren's (2010) neighbourhood model as Surprise's ``KNNBaseline`` computes it (item-based,
``pearson_baseline`` similarity), vectorised in numpy. With the baseline b_ui = μ + b_u + b_i of
:func:`mtrec.evaluation.baselines.fit_biases` (ALS, Surprise's defaults):

- sim(i, j) = Σ_u d_ui d_uj / √(Σ_u d_ui² · Σ_u d_uj²), every sum over the users who rated both
  (d_ui = r_ui - b_ui), shrunk by (n_ij - 1) / (n_ij - 1 + shrinkage) where n_ij is their number;
  sim(i, i) = 1.
- r̂_ui = b_ui + Σ_j sim(i, j) d_uj / Σ_j sim(i, j) over the ``k`` movies j the user rated that are
  most similar to i, those with sim > 0 only; b_ui alone when fewer than ``min_k`` remain. A user or
  movie without training rows gets its bias 0, as in Surprise. A (user, movie) pair rated more than
  once counts once, with its mean rating.

The similarity matrix is [num_movies, num_movies] float64 (with three more of that size while it is
summed), so callers skip the predictor above a catalogue size (``baselines.max_items``).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from mtrec.data.interactions import Interactions
from mtrec.evaluation.ease import user_batches, user_rows

Baseline = tuple[float, np.ndarray, np.ndarray]
"""(μ, [num_users + 1] user biases, [num_movies + 1] movie biases), as ``fit_biases`` returns them."""


def distinct_pairs(data: Interactions) -> Interactions:
    """One row per (user, movie) pair with the mean of its ratings: MovieLens titles are the
    movies, and a few titles name two GroupLens movie ids, which some users both rated."""
    keys = data.user.astype(np.int64) * (data.num_movies + 1) + data.movie
    unique, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    if len(unique) == len(data):
        return data
    mean = np.bincount(inverse, data.rating) / np.bincount(inverse)
    return replace(data.take(first), rating=mean.astype(data.rating.dtype))


def baseline_residuals(data: Interactions, baseline: Baseline) -> np.ndarray:
    """[len(data)] r_ui - b_ui of each row."""
    mu, user_bias, movie_bias = baseline
    return data.rating - (mu + user_bias[data.user] + movie_bias[data.movie])


def pearson_baseline_similarity(
    train: Interactions, baseline: Baseline, shrinkage: float, users_per_batch: int = 4096
) -> np.ndarray:
    """[num_movies, num_movies] shrunk Pearson correlation of the baseline residuals.

    Args:
      train: the training rows.
      baseline: the baseline the residuals are taken from.
      shrinkage: the shrinkage (Surprise's default 100).
      users_per_batch: users summed at a time ([users_per_batch, num_movies] dense rows).
    """
    train = distinct_pairs(train)
    residuals = baseline_residuals(train, baseline)
    n = train.num_movies
    products, squares, support = np.zeros((n, n)), np.zeros((n, n)), np.zeros((n, n))
    for batch in user_batches(np.unique(train.user), users_per_batch):
        d = user_rows(train, batch, residuals)
        rated = user_rows(train, batch)
        products += d.T @ d
        squares += (d * d).T @ rated  # squares[i, j] = Σ over users who rated j of d_ui²
        support += rated.T @ rated
    denominator = np.sqrt(squares * squares.T)
    similarity = np.divide(products, denominator, out=np.zeros_like(products), where=denominator > 0)
    shrunk = support - 1
    similarity *= np.divide(
        shrunk, shrunk + shrinkage, out=np.zeros_like(shrunk), where=shrunk + shrinkage > 0
    )
    similarity[np.diag_indices_from(similarity)] = 1.0
    return similarity


def knn_predictions(
    train: Interactions,
    test: Interactions,
    similarity: np.ndarray,
    baseline: Baseline,
    k: int = 40,
    min_k: int = 1,
) -> np.ndarray:
    """[len(test)] item-kNN predictions (unclipped) for ``test``'s (user, movie) pairs.

    Args:
      train: the ratings the neighbours' residuals come from.
      test: the pairs to predict.
      similarity: :func:`pearson_baseline_similarity`.
      baseline: the baseline b_ui the neighbours' residuals correct.
      k: the most neighbours per prediction.
      min_k: fewer positive-similarity neighbours than this: the baseline alone.
    """
    mu, user_bias, movie_bias = baseline
    train = distinct_pairs(train)
    residuals = baseline_residuals(train, baseline)
    predictions = mu + user_bias[test.user] + movie_bias[test.movie]
    train_order, test_order = np.argsort(train.user, kind="stable"), np.argsort(test.user, kind="stable")
    train_splits = np.searchsorted(train.user[train_order], np.arange(test.num_users + 2))
    test_splits = np.searchsorted(test.user[test_order], np.arange(test.num_users + 2))
    for user in np.unique(test.user):
        rated = train_order[train_splits[user] : train_splits[user + 1]]
        if len(rated) == 0:
            continue
        pairs = test_order[test_splits[user] : test_splits[user + 1]]
        sims = similarity[np.ix_(test.movie[pairs] - 1, train.movie[rated] - 1)]  # [pairs, rated]
        deviations = np.broadcast_to(residuals[rated], sims.shape)
        if len(rated) > k:
            nearest = np.argpartition(-sims, k - 1, axis=1)[:, :k]
            sims = np.take_along_axis(sims, nearest, axis=1)
            deviations = residuals[rated][nearest]
        sims = np.where(sims > 0, sims, 0.0)
        weight = sims.sum(axis=1)
        enough = ((sims > 0).sum(axis=1) >= min_k) & (weight > 0)
        predictions[pairs[enough]] += (sims * deviations).sum(axis=1)[enough] / weight[enough]
    return predictions
