"""Result tables: one run's metrics beside its baselines, and a sweep's summary with its Pareto set.

The end-of-sweep report and ``mtrec-compare`` call the same functions on the same MLflow runs, so
they print the same table.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from mtrec.reports.methods import methods_markdown, methods_of, reference_point, summarize
from mtrec.reports.pareto import pareto_mask
from mtrec.reports.sweep import Sweep
from mtrec.tracking.runs import RUN_STATUS_FINISHED


def baselines_for(metric: str, values: Mapping[str, float]) -> dict[str, float]:
    """{"popularity": 0.29} for metric "test/top_100_accuracy", from ``baseline/<name>/<metric>``.

    Baselines are scored on the test split only, so a ``val/*`` (or any other) metric has none.
    """
    split, suffix = metric.split("/", 1)
    if split != "test":
        return {}
    return {
        key.split("/")[1]: v
        for key, v in values.items()
        if key.startswith("baseline/") and key.endswith(f"/{suffix}") and v == v
    }


def _metric_order(name: str) -> tuple[int, int, str]:
    """test/rmse, then top-K accuracies by K, then the losses."""
    metric = name.split("/", 1)[1]
    if metric == "rmse":
        return (0, 0, name)
    if metric.startswith("top_") and metric.endswith("_accuracy"):
        return (1, int(metric.split("_")[1]), name)
    return (2, 0, name)


def format_metrics(title: str, metrics: Mapping[str, float]) -> str:
    """A single run's table: each ``test/*`` metric with every baseline's value beside it."""
    tests = sorted((name for name in metrics if name.startswith("test/")), key=_metric_order)
    predictors = sorted({key.split("/")[1] for key in metrics if key.startswith("baseline/")})
    width = max(len(name) for name in tests)
    header = f"{'metric':<{width}}  {'model':>10}" + "".join(f"  {p:>11}" for p in predictors)
    lines = [title, header, "-" * len(header)]
    for name in tests:
        baselines = baselines_for(name, metrics)
        cells = "".join(f"  {baselines[p]:>11.4f}" if p in baselines else f"  {'-':>11}" for p in predictors)
        lines.append(f"{name:<{width}}  {metrics[name]:>10.4f}{cells}")
    times = ", ".join(
        f"{k.removeprefix('time/')} {v:.1f}" for k, v in metrics.items() if k.startswith("time/")
    )
    return "\n".join(lines + [f"seconds: {times}"])


def summary_table(
    sweep: Sweep,
    pareto: Sequence[Any],
    metrics: Sequence[str] | None = None,
    sort_by: str | None = None,
    descending: bool = False,
) -> pd.DataFrame:
    """One row per job (swept keys, metrics, train time, status, Pareto flag), then baselines.

    Args:
      sweep: the jobs.
      pareto: the objectives (two or more, each with ``.metric`` and ``.goal`` "min"/"max") whose
        Pareto set decides the Pareto flag; each is a column.
      metrics: the metric columns; default every ``test/*`` metric.
      sort_by: a column to sort the jobs by (baselines stay last); default: job order.
      descending: sort from the largest value.
    """
    names = (
        list(metrics)
        if metrics
        else sorted(
            (c.removeprefix("metrics.") for c in sweep.runs.columns if c.startswith("metrics.test/")),
            key=_metric_order,
        )
    )
    names += [o.metric for o in pareto if o.metric not in names]
    points = np.column_stack([sweep.metric(o.metric).to_numpy(dtype=float) for o in pareto])
    finished = (sweep.statuses() == RUN_STATUS_FINISHED).tolist()  # a pruned job is never on the front
    on_front = [m and f for m, f in zip(pareto_mask(points, [o.goal for o in pareto]), finished)]

    table = pd.DataFrame({"job": sweep.runs["job"]})
    methods = methods_of(sweep.runs)
    if methods is not None:  # hydra/sweeper=methods: the method each job belongs to
        table["method"] = methods
    for key in sweep.swept_keys():
        table[key] = sweep.runs.get(f"params.{key}")
    for name in names:
        table[name] = sweep.metric(name)
    for name in sweep.varying_baselines():
        table[name] = sweep.metric(name)  # this job's own split's baseline
    table["train_seconds"] = sweep.metric("time/fit_seconds")
    table["status"] = sweep.statuses()
    table["pareto"] = ["yes" if x else "" for x in on_front]
    if sort_by is not None:
        table = table.sort_values(sort_by, ascending=not descending, kind="stable", na_position="last")

    baselines = sweep.baselines()
    rows = []
    for predictor in sorted({k.split("/")[1] for k in baselines}):
        row: dict[str, Any] = {"job": f"baseline: {predictor}", "status": "baseline", "pareto": ""}
        for name in names:
            row[name] = baselines_for(name, baselines).get(predictor, math.nan)
        rows.append(row)
    return pd.concat([table, pd.DataFrame(rows, columns=table.columns)], ignore_index=True)


def to_markdown(table: pd.DataFrame) -> str:
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return "" if math.isnan(value) else f"{value:.4f}"
        return "" if value is None else str(value)

    lines = ["| " + " | ".join(table.columns) + " |", "|" + "|".join("---" for _ in table.columns) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines)


def pareto_lines(table: pd.DataFrame, pareto: Sequence[Any]) -> list[str]:
    """One line per job on the front, with its value of every objective."""
    front = table[table["pareto"] == "yes"]
    return [
        f"- {row['job']}: " + ", ".join(f"{o.metric}={row[o.metric]:.4f}" for o in pareto)
        for _, row in front.iterrows()
    ]


def summary_markdown(
    sweep: Sweep, pareto: Sequence[Any], reference: Sequence[float] | None = None, **table_options: Any
) -> str:
    """The report: title, the summary table, the Pareto set, each method's hypervolume (when the
    jobs belong to methods; ``reference``: its reference point, default the jobs' worst values)
    and the failed jobs."""
    table = summary_table(sweep, pareto, **table_options)
    goals = " / ".join(f"{o.goal} {o.metric}" for o in pareto)
    parts = [
        f"# {sweep.title}",
        "",
        to_markdown(table),
        "",
        f"Pareto set ({goals}):",
        *pareto_lines(table, pareto),
    ]
    if "method" in table:
        point = reference_point(table, pareto, reference)
        parts += ["", *methods_markdown(summarize(table, pareto, point), pareto, point)]
    failed = sweep.failed_jobs()
    if failed:
        parts += ["", "Failed jobs:", *[f"- {job}" for job in failed]]
    return "\n".join(parts) + "\n"
