"""EASE (Steck 2019), a strong linear item-item recommender in closed form: the retrieval baseline.

With X the [num_users, num_movies] 0/1 matrix of training interactions, G = XᵀX + λI and
P = G⁻¹, the item-item weights are B = -P / diag(P) (column-wise), with diag(B) = 0, and a user's
scores are their row of X·B. The Gram matrix and P are [num_movies, num_movies] float64, 8·n²
bytes each, so callers skip EASE above a catalogue size (``baselines.max_items``).

The scores are ranked the way the model's are: top-K accuracy over every movie (fewer than K
movies scoring strictly higher), Recall/NDCG over the movies left after the user's earlier ones
are removed. EASE ties often (every movie never rated with one of the user's scores 0, and a user
without training rows scores every movie 0), so ties go to the more popular training movie, then
the lower movie index: the popularity baseline's order, which a user without history then gets.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from mtrec.data.interactions import Interactions
from mtrec.evaluation.ranking import SeenMovies, recall_ndcg


def user_rows(
    data: Interactions, users: np.ndarray, values: np.ndarray | None = None, dtype: type = np.float64
) -> np.ndarray:
    """[len(users), num_movies] dense rows of ``data`` (column j is movie index j + 1): ``values``
    at each (user, movie) pair, 1 without them; 0 where the user has no row."""
    out: np.ndarray = np.zeros((len(users), data.num_movies), dtype=dtype)
    position = np.full(data.num_users + 1, -1)
    position[users] = np.arange(len(users))
    rows = np.flatnonzero(position[data.user] >= 0)
    out[position[data.user[rows]], data.movie[rows] - 1] = 1 if values is None else values[rows]
    return out


def user_batches(users: np.ndarray, size: int) -> Iterator[np.ndarray]:
    """``users`` in consecutive batches of at most ``size``."""
    for start in range(0, len(users), size):
        yield users[start : start + size]


def gram(data: Interactions, users_per_batch: int = 4096) -> np.ndarray:
    """[num_movies, num_movies] XᵀX of the 0/1 interactions, summed over batches of users so that
    no [num_users, num_movies] matrix is ever held."""
    users = np.unique(data.user)
    out = np.zeros((data.num_movies, data.num_movies))
    for batch in user_batches(users, users_per_batch):
        x = user_rows(data, batch)
        out += x.T @ x
    return out


def fit_ease(gram_matrix: np.ndarray, l2: float) -> np.ndarray:
    """[num_movies, num_movies] EASE weights B from XᵀX and the L2 weight λ (> 0)."""
    g = gram_matrix.copy()
    g[np.diag_indices_from(g)] += l2
    p = np.linalg.inv(g)
    weights = p / -np.diag(p)  # B[i, j] = -P[i, j] / P[j, j]
    weights[np.diag_indices_from(weights)] = 0.0
    return weights


def popularity_order(train: Interactions) -> np.ndarray:
    """[num_movies] column indices (movie index - 1), most-rated first, ties by lower index."""
    counts = np.bincount(train.movie, minlength=train.num_movies + 1)[1:]
    return np.argsort(-counts, kind="stable")


def ease_metrics(
    train: Interactions,
    heldout: Interactions,
    weights: np.ndarray,
    ks: Sequence[int],
    ranking_k: Sequence[int],
    seen: Interactions | None,
    users_per_batch: int = 1024,
) -> dict[str, float]:
    """Top-K accuracy (every held-out pair) and per-user Recall/NDCG of EASE's scores.

    Args:
      train: the rows the users' histories (X's rows) come from.
      heldout: the rows to find.
      weights: :func:`fit_ease`'s B.
      ks: the K of ``top_K_accuracy``; ranking_k those of ``recall_at_K``, ``ndcg_at_K``.
      seen: rows whose movies Recall/NDCG never rank for their user; None ranks every movie.

    Returns:
      ``top_{k}_accuracy``, ``recall_at_{k}`` and ``ndcg_at_{k}``.
    """
    order = popularity_order(train)
    weights = weights[:, order]  # columns in tie-break order: a stable sort then breaks ties
    position = np.empty_like(order)
    position[order] = np.arange(len(order))
    relevant = SeenMovies(heldout.user, heldout.movie)
    max_k = max(ranking_k, default=0)
    hits = {k: 0 for k in ks}
    ranked = []
    for batch in user_batches(relevant.users, users_per_batch):
        scores = user_rows(train, batch) @ weights  # [batch, num_movies], tie-break order
        if ks:
            hits = _count_hits(scores, batch, heldout, position, hits)
        if max_k:
            if seen is not None:
                scores[user_rows(seen, batch)[:, order] > 0] = -np.inf
            ranked.append(order[top_columns(scores, max_k)] + 1)
    out = {f"top_{k}_accuracy": n / len(heldout) for k, n in hits.items()}
    if max_k:
        out.update(
            recall_ndcg(
                np.concatenate(ranked), [set(relevant.of(u).tolist()) for u in relevant.users], ranking_k
            )
        )
    return out


def top_columns(scores: np.ndarray, k: int) -> np.ndarray:
    """[rows, k] column indices of each row's k highest scores, best first, ties by lower column:
    ``np.argsort(-scores, kind="stable")[:, :k]`` without sorting every column."""
    k = min(k, scores.shape[1])
    kth = -np.partition(-scores, k - 1, axis=1)[:, k - 1 : k]  # each row's k-th highest score
    above, tied = scores > kth, scores == kth
    # Every column above the k-th score, then the tied ones in column order until k are taken.
    keep = above | (tied & (np.cumsum(tied, axis=1) <= k - above.sum(axis=1, keepdims=True)))
    columns = np.nonzero(keep)[1].reshape(len(scores), k)  # row-major: ascending within a row
    best_first = np.argsort(-np.take_along_axis(scores, columns, axis=1), axis=1, kind="stable")
    return np.take_along_axis(columns, best_first, axis=1)


def _count_hits(
    scores: np.ndarray, batch: np.ndarray, heldout: Interactions, position: np.ndarray, hits: dict[int, int]
) -> dict[int, int]:
    """Adds, for each K, the held-out pairs of ``batch``'s users whose movie has fewer than K
    movies ranked above it (strictly higher scores, or equal scores earlier in tie-break order)."""
    row_of = np.full(heldout.num_users + 1, -1)
    row_of[batch] = np.arange(len(batch))
    pairs = np.flatnonzero(row_of[heldout.user] >= 0)
    hits = dict(hits)
    for chunk in np.array_split(pairs, max(1, len(pairs) // 1024)):  # [chunk, num_movies] at a time
        rows, columns = row_of[heldout.user[chunk]], position[heldout.movie[chunk] - 1]
        user_scores = scores[rows]
        own = user_scores[np.arange(len(chunk)), columns][:, None]
        earlier = np.arange(scores.shape[1])[None, :] < columns[:, None]
        num_above = ((user_scores > own) | ((user_scores == own) & earlier)).sum(axis=1)
        hits = {k: n + int(np.sum(num_above < k)) for k, n in hits.items()}
    return hits


def select_l2(
    selection_train: Interactions,
    selection_val: Interactions,
    grid: Sequence[float],
    k: int,
    exclude_seen: bool,
) -> tuple[float, dict[float, float], np.ndarray | None]:
    """The λ of ``grid`` with the best NDCG@``k`` on ``selection_val`` (EASE fitted on
    ``selection_train``; the smaller λ on a tie), each λ's NDCG, and the chosen λ's weights.
    No validation rows: the grid's middle λ, and no weights."""
    if len(selection_val) == 0:
        return float(sorted(grid)[len(grid) // 2]), {}, None
    g = gram(selection_train)
    seen = selection_train if exclude_seen else None
    best, ndcg, best_weights = 0.0, {}, None
    for l2 in sorted(float(v) for v in grid):
        weights = fit_ease(g, l2)
        ndcg[l2] = ease_metrics(selection_train, selection_val, weights, [], [k], seen)[f"ndcg_at_{k}"]
        if best_weights is None or ndcg[l2] > ndcg[best]:
            best, best_weights = l2, weights
    return best, ndcg, best_weights
