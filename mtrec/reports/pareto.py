"""The Pareto set of a sweep's jobs."""

from __future__ import annotations

import math
from collections.abc import Sequence


def pareto_mask(points: Sequence[tuple[float, float]], goals: tuple[str, str]) -> list[bool]:
    """True for each point no other point dominates (no worse in both, better in one).

    Goals are "min" or "max" per coordinate. Equal points do not dominate each other, so
    duplicates on the front all stay; points with a NaN coordinate are never on the front.
    """
    signs = [1.0 if g == "min" else -1.0 for g in goals]
    costs = [(p[0] * signs[0], p[1] * signs[1]) for p in points]
    mask = []
    for i, (a0, a1) in enumerate(costs):
        if math.isnan(a0) or math.isnan(a1):
            mask.append(False)
            continue
        dominated = any(
            b0 <= a0 and b1 <= a1 and (b0 < a0 or b1 < a1)
            for j, (b0, b1) in enumerate(costs)
            if j != i and not (math.isnan(b0) or math.isnan(b1))
        )
        mask.append(not dominated)
    return mask
