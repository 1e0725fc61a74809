"""Per-user ranking metrics (Recall@K, NDCG@K) over a held-out split, the way RecBole and
Microsoft Recommenders report them.

For every user with at least one held-out movie, every candidate movie is scored once (one
brute-force pass over the candidate embeddings), optionally with the user's training movies
removed from the candidates, and the top K are compared with the user's held-out movies:

- Recall@K = |top K ∩ relevant| / |relevant|
- NDCG@K = DCG@K / IDCG@K, with binary relevance, DCG@K = Σ_{hit at rank r} 1 / log2(r + 1) and
  IDCG@K the DCG of a perfect ranking of min(K, |relevant|) relevant movies.

Both are averaged over users (not over interactions, unlike top-K accuracy).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mtrec.data.interactions import group_by_user


def recall_ndcg(top: np.ndarray, relevant: Sequence[set[int]], ks: Sequence[int]) -> dict[str, float]:
    """Mean Recall@K and NDCG@K over users.

    Args:
      top: [num_users, max_k] candidate ids ranked best first (every row at least max(ks) long).
      relevant: per row of ``top``, the non-empty set of the user's held-out candidate ids.
      ks: the cut-offs.

    Returns:
      ``{"recall_at_{k}": ..., "ndcg_at_{k}": ...}`` for every k.
    """
    if len(top) != len(relevant):
        raise ValueError(f"{len(top)} ranked rows but {len(relevant)} relevant sets")
    if len(top) == 0:
        raise ValueError("no users to rank")
    max_k = max(ks)
    if top.shape[1] < max_k:
        raise ValueError(f"rankings have {top.shape[1]} columns, fewer than K={max_k}")
    hits = np.array([[item in rel for item in row[:max_k]] for row, rel in zip(top, relevant)], dtype=float)
    num_relevant = np.array([len(rel) for rel in relevant], dtype=float)
    discounts = 1.0 / np.log2(np.arange(2, max_k + 2))
    ideal = np.cumsum(discounts)  # ideal[n - 1]: the DCG of n relevant movies ranked first.
    out = {}
    for k in ks:
        out[f"recall_at_{k}"] = float(np.mean(hits[:, :k].sum(axis=1) / num_relevant))
        dcg = hits[:, :k] @ discounts[:k]
        idcg = ideal[np.minimum(num_relevant, k).astype(int) - 1]
        out[f"ndcg_at_{k}"] = float(np.mean(dcg / idcg))
    return out


class SeenMovies:
    """Each user's distinct movies, grouped once (a CSR table: no per-row Python objects)."""

    def __init__(self, users: np.ndarray, movies: np.ndarray) -> None:
        users = np.asarray(users)
        self._movies, self._row_splits = group_by_user(users, np.asarray(movies), int(users.max(initial=0)))
        self.users = np.flatnonzero(np.diff(self._row_splits))  # those with at least one movie

    def of(self, user: int | np.integer) -> np.ndarray:
        """The user's distinct movies, sorted; empty for an unknown user."""
        user = int(user)
        if not 0 <= user < len(self._row_splits) - 1:
            return self._movies[:0]
        return self._movies[self._row_splits[user] : self._row_splits[user + 1]]


def rank_users(
    scores: np.ndarray, candidate_ids: np.ndarray, k: int, exclude: Sequence[np.ndarray] | None = None
) -> np.ndarray:
    """[num_users, num_candidates] scores -> [num_users, k] candidate ids, best first.

    ``candidate_ids`` must be sorted; ``exclude[i]`` (candidate ids) are never ranked for user i.
    """
    scores = np.array(scores, dtype=np.float64, copy=True)
    if exclude is not None:
        for i, seen in enumerate(exclude):
            seen = np.asarray(seen, dtype=candidate_ids.dtype)
            cols = np.searchsorted(candidate_ids, seen)
            cols = cols[
                (cols < len(candidate_ids))
                & (candidate_ids[np.minimum(cols, len(candidate_ids) - 1)] == seen)
            ]
            scores[i, cols] = -np.inf
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.take_along_axis(scores, part, axis=1).argsort(axis=1, kind="stable")[:, ::-1]
    return candidate_ids[np.take_along_axis(part, order, axis=1)]
