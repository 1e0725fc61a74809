"""The Pareto set of a sweep's jobs, over any number of objectives."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# Pairwise comparisons held in memory at once (booleans): the points are compared in blocks of
# rows, so a sweep of 10^4 jobs needs ~10^7 bytes, not the 10^8 x objectives of one broadcast.
_BLOCK_CELLS = 1 << 23


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
    valid = ~np.isnan(costs).any(axis=1)
    candidates = costs[valid]  # only these can dominate
    mask = valid.copy()
    block = max(1, _BLOCK_CELLS // max(1, candidates.size))
    for start in range(0, len(costs), block):
        rows = costs[start : start + block, None, :]  # [block, 1, num_objectives]
        no_worse = (candidates[None, :, :] <= rows).all(axis=2)  # [block, num_candidates]
        better = (candidates[None, :, :] < rows).any(axis=2)
        mask[start : start + block] &= ~(no_worse & better).any(axis=1)
    return mask.tolist()
