"""EASE: its closed form against hand-computed weights and per-column ridge regressions, its
metrics against hand-ranked scores and a loop-based reference on the real MovieLens 100K."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mtrec.data.grouplens import read_grouplens
from mtrec.data.interactions import Interactions, Split
from mtrec.data.splits import random_split
from mtrec.evaluation.ease import ease_metrics, fit_ease, gram, select_l2, top_columns, user_rows
from tests.helpers import ML_100K


def interactions(users, movies, ratings=None, num_users=3, num_movies=4) -> Interactions:
    return Interactions(
        user_vocab=np.array([f"u{i}" for i in range(num_users)]),
        movie_vocab=np.array([f"m{i}" for i in range(num_movies)]),
        user=np.array(users, np.int32),
        movie=np.array(movies, np.int32),
        rating=np.array(ratings if ratings is not None else [1.0] * len(users), np.float32),
        timestamp=np.zeros(len(users), np.int64),
    )


def ridge_column(x: np.ndarray, j: int, l2: float) -> np.ndarray:
    """EASE's column j as the ridge regression of item j on every other item (the constraint
    diag(B) = 0 leaves exactly that problem per column): [num_items] with 0 at j."""
    others = [i for i in range(x.shape[1]) if i != j]
    a = x[:, others]
    coefficients = np.linalg.solve(a.T @ a + l2 * np.eye(len(others)), a.T @ x[:, j])
    column = np.zeros(x.shape[1])
    column[others] = coefficients
    return column


def test_ease_weights_by_hand() -> None:
    # X = [[1, 1], [1, 0]], λ = 1: G + λI = [[3, 1], [1, 2]], P = [[2, -1], [-1, 3]] / 5, so
    # B[0, 1] = -P[0, 1] / P[1, 1] = 1/3 and B[1, 0] = -P[1, 0] / P[0, 0] = 1/2.
    x = np.array([[1.0, 1.0], [1.0, 0.0]])
    assert fit_ease(x.T @ x, 1.0) == pytest.approx(np.array([[0.0, 1 / 3], [1 / 2, 0.0]]))


def test_ease_weights_are_per_item_ridge_regressions() -> None:
    train = interactions([1, 1, 2, 2, 3, 3, 3, 3], [1, 2, 2, 3, 1, 2, 3, 4])
    x = user_rows(train, np.arange(1, 4))
    assert x.tolist() == [[1, 1, 0, 0], [0, 1, 1, 0], [1, 1, 1, 1]]
    assert gram(train, users_per_batch=2) == pytest.approx(x.T @ x)
    weights = fit_ease(gram(train), 0.5)
    for j in range(4):
        assert weights[:, j] == pytest.approx(ridge_column(x, j, 0.5))


def test_ease_metrics_of_hand_made_weights() -> None:
    # Movie 2 is rated twice in training, movie 1 once: ties go 2, 1, 3, 4. User 3 has no history.
    train = interactions([1, 2, 2], [2, 1, 2])
    test = interactions([1, 2, 3], [4, 4, 1])
    weights = np.zeros((4, 4))
    weights[1] = [0.5, 0.0, 0.2, 0.2]  # from movie 2
    weights[0] = [0.0, 0.1, 0.0, 0.3]  # from movie 1
    # Scores: user 1 [.5, 0, .2, .2], user 2 [.5, .1, .2, .5], user 3 zeros. Movies above the
    # held-out one: user 1's movie 4: 1 and 3 (3 wins the tie); user 2's movie 4: 1 (wins the tie);
    # user 3's movie 1: 2 (the more popular of the tied).
    got = ease_metrics(train, test, weights, [1, 2, 3], [2, 3], seen=train)
    assert [got[f"top_{k}_accuracy"] for k in (1, 2, 3)] == pytest.approx([0, 2 / 3, 1])
    # Seen movies removed: user 1 ranks 1, 3, 4 (hit at 3); user 2 ranks 4, 3 (hit at 1); user 3
    # ranks 2, 1, 3 (hit at 2).
    assert got["recall_at_2"] == pytest.approx(2 / 3)
    assert got["recall_at_3"] == pytest.approx(1.0)
    assert got["ndcg_at_2"] == pytest.approx((0 + 1 + 1 / math.log2(3)) / 3)
    assert got["ndcg_at_3"] == pytest.approx((1 / math.log2(4) + 1 + 1 / math.log2(3)) / 3)
    # Without exclusion user 1's first two are 1 and 3, user 2's 1 and 4.
    assert ease_metrics(train, test, weights, [], [2], seen=None)["recall_at_2"] == pytest.approx(2 / 3)


def test_top_columns_is_a_stable_sort() -> None:
    rng = np.random.default_rng(0)
    for _ in range(100):
        scores = rng.integers(0, 4, size=(6, 9)).astype(float)
        scores[rng.random(scores.shape) < 0.2] = -np.inf
        k = int(rng.integers(1, 10))
        assert top_columns(scores, k).tolist() == np.argsort(-scores, axis=1, kind="stable")[:, :k].tolist()


def test_lambda_selection_keeps_the_best_validation_ndcg() -> None:
    train = interactions([1, 1, 2, 2, 3, 3, 3], [1, 2, 2, 3, 1, 2, 3])
    val = interactions([1, 2, 3], [3, 1, 4])
    best, ndcg, weights = select_l2(train, val, [1000.0, 0.1, 10.0], 2, exclude_seen=True)
    assert sorted(ndcg) == [0.1, 10.0, 1000.0]
    assert ndcg[best] == max(ndcg.values())
    assert weights == pytest.approx(fit_ease(gram(train), best))
    assert select_l2(train, interactions([], []), [1.0, 2.0, 3.0], 2, True)[:2] == (2.0, {})


def reference_metrics(
    x: np.ndarray, scores: np.ndarray, split: Split, ks: list[int], k: int
) -> dict[str, float]:
    """Top-K accuracy and Recall/NDCG@k by sorting each user's (score, popularity, index) keys in Python."""
    counts = x.sum(axis=0)
    test_by_user: dict[int, list[int]] = {}
    for u, m in zip(split.test.user.tolist(), split.test.movie.tolist()):
        test_by_user.setdefault(u, []).append(m - 1)
    hits = dict.fromkeys(ks, 0)
    recall, ndcg = [], []
    for u, items in test_by_user.items():
        keyed = sorted(range(x.shape[1]), key=lambda i: (-scores[u - 1, i], -counts[i], i))
        rank = {item: r for r, item in enumerate(keyed)}
        for item in items:
            for kk in ks:
                hits[kk] += rank[item] < kk
        unseen = [i for i in keyed if x[u - 1, i] == 0][:k]
        relevant = set(items)
        found = [r for r, i in enumerate(unseen) if i in relevant]
        recall.append(len(found) / len(relevant))
        ideal = sum(1 / math.log2(r + 2) for r in range(min(k, len(relevant))))
        ndcg.append(sum(1 / math.log2(r + 2) for r in found) / ideal)
    out = {f"top_{kk}_accuracy": hits[kk] / len(split.test) for kk in ks}
    return {**out, f"recall_at_{k}": float(np.mean(recall)), f"ndcg_at_{k}": float(np.mean(ndcg))}


@pytest.fixture(scope="module")
def tutorial_split() -> Split:
    return random_split(read_grouplens(ML_100K), 0.2, 42)


def test_ease_on_real_ml_100k_matches_an_independent_reference(tutorial_split: Split) -> None:
    split = tutorial_split
    x = np.zeros((split.train.num_users, split.train.num_movies))
    x[split.train.user - 1, split.train.movie - 1] = 1
    weights = fit_ease(gram(split.train), 500.0)
    for j in (49, 1000):  # a often and a rarely rated movie
        assert weights[:, j] == pytest.approx(ridge_column(x, j, 500.0), abs=1e-9)
    # The reference sorts in Python: every third user's test rows keep it to a few seconds.
    test = split.test.take(np.flatnonzero(split.test.user % 3 == 0))
    got = ease_metrics(split.train, test, weights, [1, 10, 100], [10], seen=split.train)
    expected = reference_metrics(x, x @ weights, Split(split.train, test), [1, 10, 100], 10)
    assert got == pytest.approx(expected, abs=1e-12)
