"""The report's plots: jobs and their Pareto front against the baselines, and training curves.

Plots use matplotlib's object API (no pyplot: no global figure registry or GUI backend to load)
and fixed margins: tight_layout's extra layout pass cost ~0.3 s a figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from mtrec.reports.methods import reference_point, summarize
from mtrec.reports.sweep import CURVES, Sweep
from mtrec.reports.tables import baselines_for

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def point_labels(jobs: Sequence[str]) -> tuple[list[str], str]:
    """Each job's name without the ``key=value`` words that every job's name shares, and those
    shared words: points labelled ``like=0.1`` and ``like=1`` stay apart where the full names
    would overlap. A name left empty keeps its full form."""
    words = [str(job).split() for job in jobs]
    shared = [w for w in words[0] if all(w in other for other in words[1:])] if len(words) > 1 else []
    short = [" ".join(w for w in name if w not in shared) or str(job) for name, job in zip(words, jobs)]
    return short, " ".join(shared)


def _titled(title: str, shared: str) -> str:
    return f"{title}\n(every job: {shared})" if shared else title


def plot_pareto(
    sweep: Sweep,
    table: pd.DataFrame,
    pareto: Sequence[Any],
    path: Path,
    reference: Sequence[float] | None = None,
) -> None:
    pareto_figure(sweep, table, pareto, reference).savefig(path, dpi=120)


def pareto_figure(
    sweep: Sweep, table: pd.DataFrame, pareto: Sequence[Any], reference: Sequence[float] | None = None
) -> Figure:
    """The jobs against their objectives, the Pareto front highlighted, the baselines as lines.

    Two objectives: one scatter, the front joined in order; when the jobs belong to methods, a
    colour and a front per method, with its hypervolume from ``reference`` (default: the jobs'
    worst values). Three or more: a scatter matrix, one panel for each pair of objectives (the
    lower triangle), every panel the same jobs.
    """
    if len(pareto) == 2 and "method" in table:
        return _methods_scatter(sweep, table, pareto, reference)
    if len(pareto) == 2:
        return _pareto_scatter(sweep, table, pareto)
    return _pareto_matrix(sweep, table, pareto)


def _pareto_scatter(sweep: Sweep, table: pd.DataFrame, pareto: Sequence[Any]) -> Figure:
    from matplotlib.figure import Figure

    x_name, y_name = pareto[0].metric, pareto[1].metric
    jobs = table[table["status"] != "baseline"]
    fig = Figure(figsize=(8, 6))
    ax = fig.subplots()
    ax.scatter(jobs[x_name], jobs[y_name], color="tab:blue", zorder=3)
    labels, shared = point_labels(list(jobs["job"]))
    for label, (_, row) in zip(labels, jobs.iterrows()):
        ax.annotate(label, (row[x_name], row[y_name]), fontsize=7, xytext=(4, 4), textcoords="offset points")
    front = jobs[jobs["pareto"] == "yes"].sort_values(x_name)
    ax.plot(front[x_name], front[y_name], color="tab:red", marker="o", zorder=4, label="Pareto front")
    _baselines_and_labels(ax, sweep, pareto)
    ax.set_title(
        _titled(f"{sweep.title}: jobs, Pareto front and baselines (dashed/dotted)", shared), fontsize=10
    )
    ax.legend(loc="best")
    fig.subplots_adjust(left=0.1, right=0.97, bottom=0.09, top=0.9 if shared else 0.94)
    return fig


def _baselines_and_labels(ax: Any, sweep: Sweep, pareto: Sequence[Any]) -> None:
    """The two-objective plots' baselines (dashed: the x-axis metric's, dotted: the y-axis metric's)
    and axis labels."""
    x_name, y_name = pareto[0].metric, pareto[1].metric
    baselines = sweep.baselines()
    for name, value in baselines_for(x_name, baselines).items():
        ax.axvline(value, linestyle="--", color="gray", linewidth=1)
        ax.text(value, ax.get_ylim()[1], f" {name}", rotation=90, va="top", fontsize=8, color="gray")
    for name, value in baselines_for(y_name, baselines).items():
        ax.axhline(value, linestyle=":", color="gray", linewidth=1)
        ax.text(ax.get_xlim()[0], value, f"{name} ", ha="left", va="bottom", fontsize=8, color="gray")
    ax.set_xlabel(f"{x_name} ({pareto[0].goal})")
    ax.set_ylabel(f"{y_name} ({pareto[1].goal})")


def _methods_scatter(
    sweep: Sweep, table: pd.DataFrame, pareto: Sequence[Any], reference: Sequence[float] | None
) -> Figure:
    """Each method's jobs in its own colour, its own front joined, the hypervolume in the legend;
    the reference point as a cross."""
    from matplotlib.figure import Figure

    x_name, y_name = pareto[0].metric, pareto[1].metric
    point = reference_point(table, pareto, reference)
    jobs = table[table["status"] != "baseline"]
    fig = Figure(figsize=(8, 6))
    ax = fig.subplots()
    for i, summary in enumerate(summarize(table, pareto, point)):
        mine = jobs[jobs["method"] == summary.method]
        colour = f"C{i % 10}"
        ax.scatter(mine[x_name], mine[y_name], color=colour, s=22, zorder=3, alpha=0.8)
        front = mine[mine["job"].isin(summary.front)].sort_values(x_name)
        label = f"{summary.method or '(none)'}: hypervolume {summary.hypervolume:.4g}"
        # The front as the edge of what it dominates (a staircase), whose area is the hypervolume.
        steps = "steps-post" if pareto[0].goal == "min" else "steps-pre"
        ax.plot(
            front[x_name], front[y_name], color=colour, marker="o", drawstyle=steps, zorder=4, label=label
        )
    ax.scatter([point[0]], [point[1]], marker="x", color="black", zorder=5, label="reference point")
    _baselines_and_labels(ax, sweep, pareto)
    ax.set_title(f"{sweep.title}: each method's jobs and Pareto front")
    ax.legend(loc="best", fontsize=8)
    fig.subplots_adjust(left=0.1, right=0.97, bottom=0.09, top=0.94)
    return fig


def _pareto_matrix(sweep: Sweep, table: pd.DataFrame, pareto: Sequence[Any]) -> Figure:
    """Row r, column c (c <= r) plots objective r + 1 against objective c, so every pair of
    objectives has one panel; axes are shared along rows and columns, so each objective reads off
    one scale. The front is N-dimensional: a front job need not look undominated in a panel, so
    front jobs are marked in red, not joined by a line."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    names = [o.metric for o in pareto]
    size = len(names) - 1
    jobs = table[table["status"] != "baseline"]
    baselines = sweep.baselines()
    fig = Figure(figsize=(3.6 * size + 1.2, 3.3 * size + 1.0))
    axes = fig.subplots(size, size, sharex="col", sharey="row", squeeze=False)
    for r in range(size):
        for c in range(size):
            ax = axes[r][c]
            ax.margins(0.1)  # on every axes of a shared row or column, or the empty ones' wins
            if c > r:
                ax.axis("off")  # the upper triangle; its corner holds the legend
                continue
            _matrix_panel(ax, jobs, names[c], names[r + 1], baselines)
            if r == size - 1:
                ax.set_xlabel(f"{names[c]} ({pareto[c].goal})")
            if c == 0:
                ax.set_ylabel(f"{names[r + 1]} ({pareto[r + 1].goal})")
    legend = [
        Line2D([], [], color="tab:red", marker="o", linestyle="", label="Pareto front (all objectives)"),
        Line2D([], [], color="tab:blue", marker="o", linestyle="", label="other jobs"),
        Line2D([], [], color="gray", linestyle="--", label="baseline of the x-axis metric"),
        Line2D([], [], color="gray", linestyle=":", label="baseline of the y-axis metric"),
    ]
    axes[0][size - 1].legend(handles=legend, loc="upper right", fontsize=8)
    fig.suptitle(
        _titled(f"{sweep.title}: jobs, Pareto front and baselines", point_labels(list(jobs["job"]))[1]),
        fontsize=11,
    )
    fig.subplots_adjust(left=0.1, right=0.97, bottom=0.08, top=0.9, wspace=0.08, hspace=0.08)
    return fig


def _matrix_panel(ax: Any, jobs: pd.DataFrame, x_name: str, y_name: str, baselines: dict[str, float]) -> None:
    """One panel of the scatter matrix: the jobs (front in red), each labelled, and the baselines
    of either metric as reference lines, as in the two-objective plot."""
    front = jobs["pareto"] == "yes"
    ax.scatter(jobs[x_name][~front], jobs[y_name][~front], color="tab:blue", s=18, zorder=3)
    ax.scatter(jobs[x_name][front], jobs[y_name][front], color="tab:red", s=26, zorder=4)
    # Labels of the jobs in the right part of the panel go to their left, to stay inside it.
    xs = jobs[x_name].astype(float)
    turn = xs.min() + 0.6 * (xs.max() - xs.min())
    for label, (_, row) in zip(point_labels(list(jobs["job"]))[0], jobs.iterrows()):
        left = row[x_name] > turn
        ax.annotate(
            label,
            (row[x_name], row[y_name]),
            fontsize=6,
            xytext=(-3 if left else 3, 3),
            textcoords="offset points",
            ha="right" if left else "left",
        )
    # Baseline labels are placed in axes coordinates along the panel's edge: the shared limits
    # are only final once every panel is drawn.
    for name, value in baselines_for(x_name, baselines).items():
        ax.axvline(value, linestyle="--", color="gray", linewidth=1)
        ax.text(
            value,
            1,
            f" {name}",
            rotation=90,
            va="top",
            fontsize=7,
            color="gray",
            transform=ax.get_xaxis_transform(),
        )
    for name, value in baselines_for(y_name, baselines).items():
        ax.axhline(value, linestyle=":", color="gray", linewidth=1)
        ax.text(
            0, value, f" {name}", va="bottom", fontsize=7, color="gray", transform=ax.get_yaxis_transform()
        )


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
