"""Synthetic e-commerce funnel: impressions of items to users, clicks, and much sparser purchases.

The TFRS tutorial motivates multitask recommenders with exactly this: plentiful signals (clicks)
and sparse ones (purchases) that a joint model can learn together. Here they share structure by
construction: both come from the same user and item factors, so what the click task learns about
the factors helps the purchase task.
"""

from __future__ import annotations

import numpy as np

from mtrec.data.interactions import Interactions


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _intercept_for_rate(scores: np.ndarray, rate: float) -> float:
    """The b with mean(sigmoid(b + scores)) == rate (bisection; the mean grows with b)."""
    low, high = -30.0, 30.0
    for _ in range(60):
        mid = (low + high) / 2
        if _sigmoid(mid + scores).mean() < rate:
            low = mid
        else:
            high = mid
    return (low + high) / 2


def make_funnel(
    num_users: int,
    num_movies: int,
    num_interactions: int,
    num_factors: int,
    click_rate: float,
    purchase_rate: float,
    seed: int,
) -> Interactions:
    """``num_interactions`` impressions with ``click`` and ``purchase`` columns, by ``seed``.

    Impressions are drawn by item popularity (Zipf-like) and user activity, not by affinity: what
    a user is shown says little; what they click says more. ``P(click) = sigmoid(a + 2 x
    affinity)`` with ``a`` set so that the mean click rate is ``click_rate``; a click becomes a
    purchase with ``P = sigmoid(b + 2 x affinity')``, ``affinity'`` from the same user factors and
    the item factors rotated a little, ``b`` set so that purchases are ``purchase_rate`` of the
    impressions. ``rating`` is the engagement level 0 (shown), 1 (clicked), 2 (bought). Item side
    features are the items' one-hot categories (the argmax factor), as in ``make_synthetic``.

    Raises:
      ValueError: ``purchase_rate`` not below ``click_rate``, or either outside (0, 1).
    """
    if not 0 < purchase_rate < click_rate < 1:
        raise ValueError(f"need 0 < purchase_rate < click_rate < 1 (got {purchase_rate}, {click_rate})")
    rng = np.random.default_rng(seed)
    user_factors = rng.normal(size=(num_users, num_factors)).astype(np.float32)
    item_factors = rng.normal(size=(num_movies, num_factors)).astype(np.float32)
    # Purchases read mostly the same item factors as clicks, plus a part of their own.
    purchase_factors = 0.8 * item_factors + 0.6 * rng.normal(size=item_factors.shape).astype(np.float32)
    popularity = 1.0 / np.arange(1, num_movies + 1) ** 0.8
    rng.shuffle(popularity)
    user_activity = 1.0 / np.arange(1, num_users + 1) ** 0.5
    user = rng.choice(num_users, size=num_interactions, p=user_activity / user_activity.sum())
    item = rng.choice(num_movies, size=num_interactions, p=popularity / popularity.sum())

    scale = 2.0 / np.sqrt(num_factors)
    click_scores = scale * np.einsum("ij,ij->i", user_factors[user], item_factors[item])
    clicked = rng.random(num_interactions) < _sigmoid(
        _intercept_for_rate(click_scores, click_rate) + click_scores
    )
    buy_scores = scale * np.einsum("ij,ij->i", user_factors[user], purchase_factors[item])
    # Among the clicks, a purchase rate of purchase_rate / click_rate.
    conditional = purchase_rate / max(clicked.mean(), 1e-12)
    bought_intercept = _intercept_for_rate(buy_scores[clicked], min(conditional, 0.999))
    bought = clicked & (rng.random(num_interactions) < _sigmoid(bought_intercept + buy_scores))

    width = len(str(max(num_users, num_movies)))
    categories = np.zeros((num_movies + 1, num_factors), np.float32)  # row 0: out of vocabulary
    categories[np.arange(1, num_movies + 1), np.argmax(item_factors, axis=1)] = 1.0
    return Interactions(
        user_vocab=np.array([f"user_{i:0{width}d}" for i in range(num_users)]),
        movie_vocab=np.array([f"item_{i:0{width}d}" for i in range(num_movies)]),
        user=(user + 1).astype(np.int32),
        movie=(item + 1).astype(np.int32),
        rating=(clicked.astype(np.float32) + bought.astype(np.float32)),
        timestamp=np.arange(num_interactions, dtype=np.int64),
        columns={"click": clicked.astype(np.float32), "purchase": bought.astype(np.float32)},
        movie_features=categories,
    )
