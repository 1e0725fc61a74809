"""Item-kNN with baseline estimates: similarities and predictions by hand, and against a loop-based
reference (Surprise's KNNBaseline algorithm, written out) on the real MovieLens 100K."""

from __future__ import annotations

import heapq
import math

import numpy as np
import pytest

from mtrec.data.grouplens import read_grouplens
from mtrec.data.interactions import Interactions
from mtrec.data.splits import random_split
from mtrec.evaluation.baselines import fit_biases
from mtrec.evaluation.knn import baseline_residuals, knn_predictions, pearson_baseline_similarity
from tests.evaluation.test_ease import interactions
from tests.helpers import ML_100K


def no_biases(num_users: int = 3, num_movies: int = 4, mu: float = 3.0):
    return mu, np.zeros(num_users + 1), np.zeros(num_movies + 1)


def test_pearson_baseline_similarity_by_hand() -> None:
    # Residuals (μ = 3, no biases): user 1 (1, 2, -1, -), user 2 (-1, -2, 1, -), user 3 (2, -, -2, 1).
    train = interactions(
        [1, 1, 1, 2, 2, 2, 3, 3, 3], [1, 2, 3, 1, 2, 3, 1, 3, 4], [4, 5, 2, 2, 1, 4, 5, 1, 4]
    )
    sim = pearson_baseline_similarity(train, no_biases(), shrinkage=1.0, users_per_batch=2)
    # sim(1, 2): users 1, 2: 4 / sqrt(2 * 8) = 1, shrunk by (2 - 1) / (2 - 1 + 1).
    assert sim[0, 1] == sim[1, 0] == pytest.approx(0.5)
    # sim(1, 3): users 1-3: -6 / sqrt(6 * 6) = -1, shrunk by 2 / 3.
    assert sim[0, 2] == pytest.approx(-2 / 3)
    # sim(2, 3): users 1, 2: -4 / sqrt(8 * 2) = -1, shrunk by 1 / 2.
    assert sim[1, 2] == pytest.approx(-0.5)
    # One common rater: shrunk to 0; none: 0; the diagonal is 1.
    assert sim[0, 3] == sim[2, 3] == sim[1, 3] == 0
    assert np.diag(sim).tolist() == [1, 1, 1, 1]


def test_knn_predictions_by_hand() -> None:
    baseline = (3.0, np.array([0, 0.5, -0.5, 0]), np.array([0, 0.2, -0.1, 0.4, 0.1]))
    train = interactions([1, 1, 1], [1, 2, 3], [4, 3, 5])
    # User 1's residuals: 4 - 3.7 = 0.3, 3 - 3.4 = -0.4, 5 - 3.9 = 1.1.
    assert baseline_residuals(train, baseline) == pytest.approx([0.3, -0.4, 1.1])
    sim = np.eye(4)
    sim[3, :3] = [0.9, 0.3, -0.2]  # movie 4's neighbours
    test = interactions([1, 2], [4, 4])
    # b_14 = 3.6; the positive neighbours 1 and 2: 3.6 + (0.9 * 0.3 + 0.3 * -0.4) / 1.2 = 3.725.
    # User 2 has no training rows: the baseline 3 - 0.5 + 0.1.
    assert knn_predictions(train, test, sim, baseline) == pytest.approx([3.725, 2.6])
    assert knn_predictions(train, test, sim, baseline, k=1) == pytest.approx([3.9, 2.6])  # movie 1 only
    assert knn_predictions(train, test, sim, baseline, min_k=3) == pytest.approx([3.6, 2.6])


class LoopKNNBaseline:
    """Surprise's KNNBaseline (item-based, pearson_baseline) written as plain loops, on demand."""

    def __init__(self, train: Interactions, baseline, shrinkage: float, k: int) -> None:
        self.mu, self.bu, self.bi = baseline
        self.shrinkage, self.k = shrinkage, k
        ratings: dict[tuple[int, int], list[float]] = {}  # a pair rated twice: its mean rating
        for u, i, r in zip(train.user.tolist(), train.movie.tolist(), train.rating.tolist()):
            ratings.setdefault((u, i), []).append(r)
        self.by_item: dict[int, dict[int, float]] = {}
        self.by_user: dict[int, dict[int, float]] = {}
        for (u, i), rs in ratings.items():
            d = sum(rs) / len(rs) - (self.mu + self.bu[u] + self.bi[i])
            self.by_item.setdefault(i, {})[u] = d
            self.by_user.setdefault(u, {})[i] = d
        self.cache: dict[tuple[int, int], float] = {}

    def sim(self, i: int, j: int) -> float:
        if i == j:  # a title rated in training and again (another GroupLens id) in test
            return 1.0
        if (i, j) not in self.cache:
            a, b = self.by_item.get(i, {}), self.by_item.get(j, {})
            common = a.keys() & b.keys()
            prods = sum(a[u] * b[u] for u in common)
            sq_a, sq_b = sum(a[u] ** 2 for u in common), sum(b[u] ** 2 for u in common)
            n = len(common)
            value = 0.0 if n == 0 or sq_a * sq_b == 0 else prods / math.sqrt(sq_a * sq_b)
            self.cache[(i, j)] = value * (n - 1) / (n - 1 + self.shrinkage) if n else 0.0
        return self.cache[(i, j)]

    def predict(self, u: int, i: int) -> float:
        est = self.mu + self.bu[u] + self.bi[i]
        neighbours = [(self.sim(i, j), d) for j, d in self.by_user.get(u, {}).items()]
        nearest = heapq.nlargest(self.k, neighbours, key=lambda t: t[0])
        weight = sum(s for s, _ in nearest if s > 0)
        if weight > 0:
            est += sum(s * d for s, d in nearest if s > 0) / weight
        return est


def test_knn_on_real_ml_100k_matches_a_loop_reference() -> None:
    split = random_split(read_grouplens(ML_100K), 0.2, 42)
    baseline = fit_biases(split.train)
    similarity = pearson_baseline_similarity(split.train, baseline, 100.0)
    test = split.test.take(np.flatnonzero(split.test.user % 80 == 0))  # 11 users' test rows
    got = knn_predictions(split.train, test, similarity, baseline, k=40)
    reference = LoopKNNBaseline(split.train, baseline, 100.0, 40)
    expected = [reference.predict(u, i) for u, i in zip(test.user.tolist(), test.movie.tolist())]
    assert got == pytest.approx(expected, abs=1e-9)
