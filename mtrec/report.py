"""Result tables, the Pareto set and plots, for one run or a whole sweep, rebuilt from MLflow.

The end-of-sweep report and ``mtrec-compare`` call the same functions on the same MLflow runs, so
they print the same table.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mlflow
import numpy as np
import pandas as pd

from mtrec.tracking import RUN_STATUS_FINISHED

if TYPE_CHECKING:
    from matplotlib.figure import Figure

ALWAYS_SHOWN = ["loss.rating_weight", "loss.retrieval_weight"]
# Params that differ between jobs without being a choice of the sweep.
NOT_SWEPT = {"dataset.path", "tracking.run_name"}


def _baselines_for(metric: str, values: Mapping[str, float]) -> dict[str, float]:
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
        baselines = _baselines_for(name, metrics)
        cells = "".join(f"  {baselines[p]:>11.4f}" if p in baselines else f"  {'-':>11}" for p in predictors)
        lines.append(f"{name:<{width}}  {metrics[name]:>10.4f}{cells}")
    times = ", ".join(
        f"{k.removeprefix('time/')} {v:.1f}" for k, v in metrics.items() if k.startswith("time/")
    )
    return "\n".join(lines + [f"seconds: {times}"])


# --- Pareto set -------------------------------------------------------------------------------


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


# --- a sweep, from MLflow -------------------------------------------------------------------


@dataclass
class Sweep:
    """The jobs of one or more sweeps (or of an experiment), one row each, oldest first."""

    runs: pd.DataFrame
    title: str
    histories: dict[str, dict[str, list[tuple[int, float]]]] = field(default_factory=dict)

    @property
    def num_jobs(self) -> int:
        return len(self.runs)

    def failed_jobs(self) -> list[str]:
        failed = self.runs[self.runs["status"] != RUN_STATUS_FINISHED]
        errors = failed.get("tags.mtrec.error", pd.Series("", index=failed.index)).fillna("")
        return [
            f"{r['job']} ({r['status']}{': ' + e if e else ''})"
            for (_, r), e in zip(failed.iterrows(), errors)
        ]

    def swept_keys(self) -> list[str]:
        params = [c for c in self.runs.columns if c.startswith("params.")]
        varying = [
            c.removeprefix("params.")
            for c in params
            if self.runs[c].astype(str).nunique() > 1 and c.removeprefix("params.") not in NOT_SWEPT
        ]
        return ALWAYS_SHOWN + sorted(k for k in varying if k not in ALWAYS_SHOWN)

    def metric(self, name: str) -> pd.Series:
        column = f"metrics.{name}"
        return self.runs[column] if column in self.runs else pd.Series(math.nan, index=self.runs.index)

    def baselines(self) -> dict[str, float]:
        """Baseline metrics shared by every job that has them (jobs on one split share them)."""
        return {
            c.removeprefix("metrics."): float(values.iloc[0])
            for c, values in self._baseline_columns().items()
            if np.allclose(values, values.iloc[0], rtol=1e-9, atol=0)
        }

    def varying_baselines(self) -> list[str]:
        """Baseline metrics that differ between jobs (their splits differ: dataset, seed, fraction
        of rating labels...); reports show these per job, not as one reference value."""
        shared = self.baselines()
        return [
            c.removeprefix("metrics.")
            for c in self._baseline_columns()
            if c.removeprefix("metrics.") not in shared
        ]

    def _baseline_columns(self) -> dict[str, pd.Series]:
        columns = [c for c in self.runs.columns if c.startswith("metrics.baseline/")]
        return {c: self.runs[c].dropna() for c in columns if self.runs[c].notna().any()}


def _to_sweep(runs: pd.DataFrame, title: str, with_histories: bool) -> Sweep:
    runs = runs.sort_values("start_time", kind="stable").reset_index(drop=True)
    if {"tags.mtrec.sweep_id", "tags.mtrec.job_num"} <= set(runs.columns):
        # A job retried after its worker died (Ray) has several runs; its last one counts.
        job = ["tags.mtrec.sweep_id", "tags.mtrec.job_num"]
        retried = runs[job].notna().all(axis=1) & runs.duplicated(subset=job, keep="last")
        runs = runs[~retried].reset_index(drop=True)
    runs["job"] = runs.get("tags.mlflow.runName", runs["run_id"]).fillna(runs["run_id"])
    sweep = Sweep(runs=runs, title=title)
    if with_histories:
        client = mlflow.MlflowClient()
        for run_id in runs["run_id"]:
            sweep.histories[run_id] = {
                key: [(m.step, m.value) for m in client.get_metric_history(run_id, key)]
                for key in ("train/loss", "train/rating_loss", "train/retrieval_loss")
            }
    return sweep


def load_sweep(parent_run_ids: Sequence[str], with_histories: bool = True) -> Sweep:
    """The child runs of the given sweep parent runs."""
    from mtrec.sweeps import child_runs

    frames = [child_runs(run_id) for run_id in parent_run_ids]
    # Empty frames are left out of the concat (pandas warns on them); all empty -> the first.
    runs = pd.concat([f for f in frames if len(f)] or frames[:1], ignore_index=True)
    title = ", ".join(
        mlflow.get_run(run_id).data.tags.get("mtrec.sweep_id", run_id) for run_id in parent_run_ids
    )
    return _to_sweep(runs, f"sweep {title}", with_histories)


def load_experiment(name: str, with_histories: bool = True) -> Sweep:
    """Every job run (sweep parents left out) of an experiment."""
    runs = mlflow.search_runs(experiment_names=[name])
    if "tags.mtrec.role" in runs:
        runs = runs[runs["tags.mtrec.role"] != "sweep"]
    return _to_sweep(runs, f"experiment {name}", with_histories)


# --- tables ---------------------------------------------------------------------------------


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
      pareto: two objectives (``.metric``, ``.goal`` "min"/"max") that decide the Pareto flag.
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
    goals = (pareto[0].goal, pareto[1].goal)
    points = list(zip(sweep.metric(pareto[0].metric), sweep.metric(pareto[1].metric)))
    finished = (sweep.runs["status"] == RUN_STATUS_FINISHED).tolist()
    on_front = [m and f for m, f in zip(pareto_mask(points, goals), finished)]

    table = pd.DataFrame({"job": sweep.runs["job"]})
    for key in sweep.swept_keys():
        table[key] = sweep.runs.get(f"params.{key}")
    for name in names:
        table[name] = sweep.metric(name)
    for name in sweep.varying_baselines():
        table[name] = sweep.metric(name)  # this job's own split's baseline
    table["train_seconds"] = sweep.metric("time/fit_seconds")
    table["status"] = sweep.runs["status"]
    table["pareto"] = ["yes" if x else "" for x in on_front]
    if sort_by is not None:
        table = table.sort_values(sort_by, ascending=not descending, kind="stable", na_position="last")

    baselines = sweep.baselines()
    rows = []
    for predictor in sorted({k.split("/")[1] for k in baselines}):
        row: dict[str, Any] = {"job": f"baseline: {predictor}", "status": "baseline", "pareto": ""}
        for name in names:
            row[name] = _baselines_for(name, baselines).get(predictor, math.nan)
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
    front = table[table["pareto"] == "yes"]
    return [
        f"- {row['job']}: {pareto[0].metric}={row[pareto[0].metric]:.4f}, "
        f"{pareto[1].metric}={row[pareto[1].metric]:.4f}"
        for _, row in front.iterrows()
    ]


def summary_markdown(sweep: Sweep, pareto: Sequence[Any], **table_options: Any) -> str:
    """The report: title, the summary table, the Pareto set and the failed jobs."""
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
    failed = sweep.failed_jobs()
    if failed:
        parts += ["", "Failed jobs:", *[f"- {job}" for job in failed]]
    return "\n".join(parts) + "\n"


# --- files and plots --------------------------------------------------------------------------


# Plots use matplotlib's object API (no pyplot: no global figure registry or GUI backend to load)
# and fixed margins: tight_layout's extra layout pass cost ~0.3 s a figure.


def plot_pareto(sweep: Sweep, table: pd.DataFrame, pareto: Sequence[Any], path: Path) -> None:
    from matplotlib.figure import Figure

    x_name, y_name = pareto[0].metric, pareto[1].metric
    jobs = table[table["status"] != "baseline"]
    fig = Figure(figsize=(8, 6))
    ax = fig.subplots()
    ax.scatter(jobs[x_name], jobs[y_name], color="tab:blue", zorder=3)
    for _, row in jobs.iterrows():
        ax.annotate(
            row["job"], (row[x_name], row[y_name]), fontsize=7, xytext=(4, 4), textcoords="offset points"
        )
    front = jobs[jobs["pareto"] == "yes"].sort_values(x_name)
    ax.plot(front[x_name], front[y_name], color="tab:red", marker="o", zorder=4, label="Pareto front")
    baselines = sweep.baselines()
    for name, value in _baselines_for(x_name, baselines).items():
        ax.axvline(value, linestyle="--", color="gray", linewidth=1)
        ax.text(value, ax.get_ylim()[1], f" {name}", rotation=90, va="top", fontsize=8, color="gray")
    for name, value in _baselines_for(y_name, baselines).items():
        ax.axhline(value, linestyle=":", color="gray", linewidth=1)
        ax.text(ax.get_xlim()[0], value, f"{name} ", ha="left", va="bottom", fontsize=8, color="gray")
    ax.set_xlabel(f"{x_name} ({pareto[0].goal})")
    ax.set_ylabel(f"{y_name} ({pareto[1].goal})")
    ax.set_title(f"{sweep.title}: jobs, Pareto front and baselines (dashed/dotted)")
    ax.legend(loc="best")
    fig.subplots_adjust(left=0.1, right=0.97, bottom=0.09, top=0.94)
    fig.savefig(path, dpi=120)


def plot_curves(sweep: Sweep, path: Path) -> None:
    curves_figure(sweep).savefig(path, dpi=110)


def curves_figure(sweep: Sweep) -> Figure:
    """Per-epoch training losses of every job, one panel per loss."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import LogFormatter, MaxNLocator

    class PlainLogFormatter(LogFormatter):
        """The log-axis ticks matplotlib labels, as plain numbers ("71,500", not 7.15x10^4): readable
        at a glance, and no mathtext to lay out (measured: 0.15-0.45 s less for this figure)."""

        def __call__(self, x: float, pos: int | None = None) -> str:
            if not super().__call__(x, pos):
                return ""
            return f"{x:,.0f}" if x >= 1000 else f"{x:.4g}"

    keys = ("train/loss", "train/rating_loss", "train/retrieval_loss")
    fig = Figure(figsize=(15, 4.5))
    axes = fig.subplots(1, len(keys))
    for ax, key in zip(axes, keys):
        # One colour per job in every panel (a job without this loss leaves a gap, not a shift).
        for i, (run_id, job) in enumerate(zip(sweep.runs["run_id"], sweep.runs["job"])):
            points = sweep.histories.get(run_id, {}).get(key, [])
            if points:
                steps, values = [s for s, _ in points], [v for _, v in points]
                ax.plot(steps, values, marker="o", color=f"C{i % 10}", label=job)
        ax.set_title(key)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs 1, 2, 3; not 1.5
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(PlainLogFormatter())
        ax.yaxis.set_minor_formatter(PlainLogFormatter())
    axes[0].legend(fontsize=7)
    fig.subplots_adjust(left=0.05, right=0.99, bottom=0.12, top=0.92, wspace=0.3)
    return fig


def write_report(sweep: Sweep, folder: Path, pareto: Sequence[Any], **table_options: Any) -> list[Path]:
    """Writes summary.csv, summary.md, pareto.png and curves.png; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    table = summary_table(sweep, pareto, **table_options)
    files = [folder / "summary.csv", folder / "summary.md", folder / "pareto.png", folder / "curves.png"]
    table.to_csv(files[0], index=False)
    files[1].write_text(summary_markdown(sweep, pareto, **table_options))
    plot_pareto(sweep, table, pareto, files[2])
    plot_curves(sweep, files[3])
    return files
