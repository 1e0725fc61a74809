"""The Pareto set of a sweep's jobs, over any number of objectives."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# Comparisons held in memory at once (booleans), and the most points checked in one step.
_BLOCK_CELLS = 1 << 23
_MAX_BLOCK_ROWS = 256


def pareto_mask(points: Sequence[Sequence[float]] | np.ndarray, goals: Sequence[str]) -> list[bool]:
    """True for each point no other point dominates (no worse in every objective, better in one).

    Exact: values are compared as they are, with no tolerance. Equal points do not dominate each
    other, so duplicates on the front all stay; a point with a NaN coordinate is never on the front
    and dominates no other point.

    Args:
      points: ``[num_points, num_objectives]`` objective values, one row per job.
      goals: ``[num_objectives]``, each ``"min"`` or ``"max"``.

    Returns:
      ``[num_points]`` flags, in the order of ``points``.

    Raises:
      ValueError: a goal that is not min/max, or points whose width is not ``len(goals)``.
    """
    bad = [g for g in goals if g not in ("min", "max")]
    if bad:
        raise ValueError(f"goals must each be 'min' or 'max' (got {bad[0]!r})")
    values = np.asarray(points, dtype=float)
    if values.size == 0:
        values = values.reshape(0, len(goals))
    if values.ndim != 2 or values.shape[1] != len(goals):
        raise ValueError(
            f"points must be [num_points, {len(goals)}], one value per goal (got {values.shape})"
        )
    signs = np.array([1.0 if g == "min" else -1.0 for g in goals])
    costs = values * signs  # lower is better in every column
    # In lexicographic order, a point's dominators all come before it (at the first objective
    # where they differ, a dominator is lower). Dominance is transitive, so a point is dominated
    # if and only if an earlier point on the front, or a point of its own step, dominates it: each
    # step compares its points with the front found so far, not with every point.
    valid = np.flatnonzero(~np.isnan(costs).any(axis=1))  # NaN rows: off the front, dominating nothing
    order = valid[np.lexsort(costs[valid].T[::-1])]
    mask = np.zeros(len(costs), dtype=bool)
    front = costs[:0]
    start = 0
    while start < len(order):
        rows = max(1, min(_MAX_BLOCK_ROWS, _BLOCK_CELLS // (costs.shape[1] * (len(front) + _MAX_BLOCK_ROWS))))
        block = order[start : start + rows]
        points = costs[block][:, None, :]  # [rows, 1, num_objectives]
        others = np.concatenate([front, costs[block]])[None, :, :]  # [1, len(front) + rows, num_objectives]
        no_worse = np.all(others <= points, axis=2)  # [rows, len(front) + rows]
        better = np.any(others < points, axis=2)
        dominated = np.any(no_worse & better, axis=1)  # [rows]
        mask[block] = ~dominated
        front = np.concatenate([front, costs[block][~dominated]])
        start += rows
    return mask.tolist()
