"""Recall@K and NDCG@K on hand-made rankings."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mtrec.evaluation.ranking import SeenMovies, rank_users, recall_ndcg


def test_hand_computed_recall_and_ndcg() -> None:
    top = np.array(
        [
            [7, 3, 9, 1],  # relevant {3, 1}: hits at ranks 2 and 4
            [5, 6, 8, 2],  # relevant {4}: no hit
            [2, 4, 6, 8],  # relevant {2, 4, 6, 8, 10}: hits at ranks 1-4
        ]
    )
    relevant = [{3, 1}, {4}, {2, 4, 6, 8, 10}]
    got = recall_ndcg(top, relevant, ks=[2, 4])

    # Recall@2: 1/2, 0, 2/5. Recall@4: 2/2, 0, 4/5.
    assert got["recall_at_2"] == pytest.approx((0.5 + 0 + 0.4) / 3)
    assert got["recall_at_4"] == pytest.approx((1 + 0 + 0.8) / 3)
    d = [1 / math.log2(r + 1) for r in (1, 2, 3, 4)]
    # NDCG@2: user 1 hit at rank 2 out of an ideal of 2 hits; user 3 perfect.
    assert got["ndcg_at_2"] == pytest.approx((d[1] / (d[0] + d[1]) + 0 + 1) / 3)
    # NDCG@4: user 1 hits at 2 and 4, ideal 2 hits; user 3 perfect (ideal capped at K=4 hits).
    assert got["ndcg_at_4"] == pytest.approx(((d[1] + d[3]) / (d[0] + d[1]) + 0 + 1) / 3)


def test_perfect_and_empty_rankings() -> None:
    assert recall_ndcg(np.array([[1, 2]]), [{1, 2}], ks=[2]) == {"recall_at_2": 1.0, "ndcg_at_2": 1.0}
    assert recall_ndcg(np.array([[3, 4]]), [{1}], ks=[1]) == {"recall_at_1": 0.0, "ndcg_at_1": 0.0}


def test_rankings_shorter_than_k_are_refused() -> None:
    with pytest.raises(ValueError, match="fewer than K=3"):
        recall_ndcg(np.array([[1, 2]]), [{1}], ks=[3])


def test_rank_users_orders_best_first_and_excludes_seen() -> None:
    scores = np.array([[0.1, 0.9, 0.5, 0.7], [0.4, 0.3, 0.2, 0.1]])
    ids = np.array([10, 11, 12, 13])
    assert rank_users(scores, ids, k=3).tolist() == [[11, 13, 12], [10, 11, 12]]
    # User 0 already saw 11 and 13; user 1 saw 10. Excluded ids never appear.
    ranked = rank_users(scores, ids, k=2, exclude=[np.array([11, 13]), np.array([10, 99])])
    assert ranked.tolist() == [[12, 10], [11, 12]]


def test_seen_movies_groups_by_user() -> None:
    seen = SeenMovies(np.array([2, 1, 2, 1]), np.array([5, 6, 7, 8]))
    assert seen.users.tolist() == [1, 2]
    assert sorted(seen.of(1).tolist()) == [6, 8] and sorted(seen.of(2).tolist()) == [5, 7]
    assert seen.of(3).tolist() == []
