"""The report's plots: jobs and their Pareto front against the baselines, and training curves.

Plots use matplotlib's object API (no pyplot: no global figure registry or GUI backend to load)
and fixed margins: tight_layout's extra layout pass cost ~0.3 s a figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from mtrec.reports.sweep import CURVES, Sweep
from mtrec.reports.tables import baselines_for

if TYPE_CHECKING:
    from matplotlib.figure import Figure


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
    for name, value in baselines_for(x_name, baselines).items():
        ax.axvline(value, linestyle="--", color="gray", linewidth=1)
        ax.text(value, ax.get_ylim()[1], f" {name}", rotation=90, va="top", fontsize=8, color="gray")
    for name, value in baselines_for(y_name, baselines).items():
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

    keys = CURVES
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
