"""Methods compared in one sweep (``hydra/sweeper=methods``): each method's Pareto front and its
hypervolume, against one reference point.

The hypervolume of a front is the volume of objective space that its points dominate and that
dominates the reference point: larger is better, and one front dominating another has the larger
one. The reference point is, unless given (``sweep.reference_point``), the worst value of each
objective over every finished job of every method (the nadir of all the jobs), so each method is
measured against the same point, and a job that is worst somewhere adds nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mtrec.reports.pareto import pareto_mask

METHOD_PARAM = "params.sweep.method"


def hypervolume(
    points: Sequence[Sequence[float]] | np.ndarray, goals: Sequence[str], reference: Sequence[float]
) -> float:
    """The volume the points dominate, bounded by the reference point; exact, any number of objectives.

    Args:
      points: ``[num_points, num_objectives]``; rows with a NaN, and rows not strictly better
        than the reference in every objective, add nothing.
      goals: ``[num_objectives]``, each ``"min"`` or ``"max"``.
      reference: ``[num_objectives]``.
    """
    signs = np.array([1.0 if g == "min" else -1.0 for g in goals])
    costs = np.asarray(points, dtype=float).reshape(-1, len(goals)) * signs
    ref = np.asarray(reference, dtype=float) * signs
    costs = costs[~np.isnan(costs).any(axis=1) & (costs < ref).all(axis=1)]
    return _volume(costs, ref)


def _volume(costs: np.ndarray, ref: np.ndarray) -> float:
    """Slicing along the last objective (HSO): each slab's volume is that of the points below it,
    one objective fewer. Exponential in the objectives, fine for a sweep's tens of points."""
    if len(costs) == 0:
        return 0.0
    if costs.shape[1] == 1:
        return float(ref[0] - costs[:, 0].min())
    costs = costs[np.argsort(costs[:, -1], kind="stable")]
    total = 0.0
    for i in range(len(costs)):
        top = costs[i + 1, -1] if i + 1 < len(costs) else ref[-1]
        if top > costs[i, -1]:
            below = costs[: i + 1, :-1]
            front = below[pareto_mask(below, ["min"] * below.shape[1])]
            total += _volume(front, ref[:-1]) * (top - costs[i, -1])
    return total


@dataclass(frozen=True)
class MethodSummary:
    """One method's jobs, its front and its hypervolume."""

    method: str
    jobs: int
    finished: int
    front: list[str]  # the jobs on the method's own front
    hypervolume: float


def methods_of(runs: pd.DataFrame) -> pd.Series | None:
    """Each job's method (``sweep.method``), or None when no job has one."""
    if METHOD_PARAM not in runs:
        return None
    given = runs[METHOD_PARAM].notna() & ~runs[METHOD_PARAM].isin(["None", ""])  # MLflow logs None as "None"
    return runs[METHOD_PARAM].where(given, "") if given.any() else None


def reference_point(
    table: pd.DataFrame, pareto: Sequence[Any], given: Sequence[float] | None = None
) -> list[float]:
    """The given reference point, else the worst value of each objective over the finished jobs."""
    if given is not None:
        return [float(v) for v in given]
    finished = table[table["status"] == "FINISHED"]
    return [float(finished[o.metric].max() if o.goal == "min" else finished[o.metric].min()) for o in pareto]


def summarize(table: pd.DataFrame, pareto: Sequence[Any], reference: Sequence[float]) -> list[MethodSummary]:
    """Each method's front (among its finished jobs) and hypervolume, in the table's method order.

    Args:
      table: the summary table (:func:`mtrec.reports.tables.summary_table`), with its ``method``
        and ``status`` columns and a column per objective.
      pareto: the objectives, each with ``.metric`` and ``.goal``.
      reference: the reference point, one value per objective.
    """
    goals = [o.goal for o in pareto]
    summaries = []
    jobs = table[table["status"] != "baseline"]
    for method in dict.fromkeys(jobs["method"]):
        mine = jobs[jobs["method"] == method]
        finished = mine[mine["status"] == "FINISHED"]
        points = finished[[o.metric for o in pareto]].to_numpy(dtype=float)
        on_front = pareto_mask(points, goals)
        summaries.append(
            MethodSummary(
                method=str(method),
                jobs=len(mine),
                finished=len(finished),
                front=[job for job, flag in zip(finished["job"], on_front) if flag],
                hypervolume=hypervolume(points, goals, reference),
            )
        )
    return summaries


def methods_markdown(
    summaries: Sequence[MethodSummary], pareto: Sequence[Any], reference: Sequence[float]
) -> list[str]:
    """The report's section: a row per method, and the reference point it was measured from."""
    point = ", ".join(f"{o.metric}={v:.4f}" for o, v in zip(pareto, reference))
    lines = [
        f"Hypervolume by method (reference point: {point}):",
        "",
        "| method | jobs | finished | on its front | hypervolume |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {s.method} | {s.jobs} | {s.finished} | {len(s.front)} | {s.hypervolume:.6g} |" for s in summaries
    ]
    return lines
