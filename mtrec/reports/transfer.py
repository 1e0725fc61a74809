"""The transfer experiments' table and plot: a data-sparse task's test metric vs its label fraction.

Each job is a (label fraction f, model, seed). The sparse task is ``rating`` (experiment
sparse_ratings: test RMSE vs ``dataset.rating_fraction``) or another task of the run (experiment
funnel_transfer: ``purchase``, test AUC vs ``tasks.purchase.label_fraction``). A job is
"<task>-only" when every other task weighs 0 (``tasks.<other>.weight``; runs from before the tasks
config: ``loss.retrieval_weight``), else "joint". Per f and model the table gives the mean and
spread over seeds of the test metric, the difference of the means (joint - <task>-only) and, where
the runs logged their seed, the range of that difference over the seeds run by both models (each
seed draws the same labels for both; in a sweep over ``dataset.split_seed`` a seed is a (trainer
seed, split seed) pair). The plot draws one line per model with the seeds' range as
a band, the bias baseline and (for rating sweeps that logged it) the item-kNN baseline, both fitted
on the same labels, and the per-seed differences beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mtrec.reports.sweep import Sweep
from mtrec.reports.tables import to_markdown

SEED = "params.trainer.seed"
SPLIT_SEED = "params.dataset.split_seed"  # a sweep over dataset draws pairs within each draw
STATS = ("mean", "std", "min", "max", "count")


@dataclass(frozen=True)
class Design:
    """Where one transfer experiment's columns are, and how its table and plot are labelled."""

    task: str
    fraction: str  # the runs' column of the task's label fraction
    metric: str  # the runs' column of the task's test metric
    metric_name: str  # "RMSE", "AUC"
    goal: str  # "min" or "max"
    baselines: dict[str, str]  # table column -> the runs' baseline column
    x_label: str
    y_label: str
    title: str

    @property
    def single(self) -> str:
        return f"{self.task}-only"

    @property
    def difference(self) -> str:
        return f"joint - {self.single}"


RATING = Design(
    task="rating",
    fraction="params.dataset.rating_fraction",
    metric="metrics.test/rmse",
    metric_name="RMSE",
    goal="min",
    baselines={"bias baseline": "metrics.baseline/bias/rmse", "knn baseline": "metrics.baseline/knn/rmse"},
    x_label="fraction of training ratings labelled (dataset.rating_fraction)",
    y_label="test RMSE",
    title="Does retrieval help a data-sparse rating task? (band: seed range)",
)


def design_for(task: str, runs: pd.DataFrame) -> Design:
    """The design of a transfer experiment on ``task`` (``rating``: experiment sparse_ratings).

    Raises:
      ValueError: the runs have no such task, or it is a retrieval task.
    """
    if task == "rating":
        return RATING
    kinds = runs.get(f"params.tasks.{task}.kind", pd.Series(dtype=object)).dropna().unique().tolist()
    if len(kinds) != 1 or kinds[0] not in ("regression", "binary"):
        raise ValueError(f"the runs have no regression or binary task {task!r} (its kinds: {kinds})")
    metric = "rmse" if kinds[0] == "regression" else "auc"
    return Design(
        task=task,
        fraction=f"params.tasks.{task}.label_fraction",
        metric=f"metrics.test/{task}/{metric}",
        metric_name=metric.upper(),
        goal="min" if metric == "rmse" else "max",
        baselines={"bias baseline": f"metrics.baseline/bias/{task}/{metric}"},
        x_label=f"fraction of training rows with a {task} label (tasks.{task}.label_fraction)",
        y_label=f"test {task} {metric.upper()}",
        title=f"Do the other tasks help a data-sparse {task} task? (band: seed range)",
    )


def single_task(runs: pd.DataFrame, task: str) -> pd.Series:
    """True for the runs in which every task but ``task`` weighs 0 (an absent weight counts as 0)."""
    weights = [
        c
        for c in runs.columns
        if c.startswith("params.tasks.") and c.endswith(".weight") and c != f"params.tasks.{task}.weight"
    ]
    if not weights:  # runs from before the tasks config: the tutorial's two tasks
        weights = ["params.loss.retrieval_weight"]
    return (runs[weights].astype(float).fillna(0.0) == 0).all(axis=1)


def transfer_table(sweep: Sweep, task: str = "rating") -> pd.DataFrame:
    """One row per label fraction ``f``: per model the mean, std, min, max and count over seeds of
    the task's test metric, the difference of the means, the baselines and, with the runs' seeds,
    the per-seed difference's mean, min and max (``joint - <task>-only min``, ...)."""
    runs = sweep.runs[sweep.runs["status"] == "FINISHED"].copy()
    if runs.empty:
        raise ValueError(f"{sweep.title} has no finished runs")
    design = design_for(task, runs)
    if design.metric not in runs:
        raise ValueError(f"{sweep.title} logged no {design.metric.removeprefix('metrics.')}")
    runs["f"] = runs[design.fraction].astype(float)
    runs["model"] = single_task(runs, task).map({True: design.single, False: "joint"})
    stats = runs.groupby(["f", "model"])[design.metric].agg(list(STATS)).unstack("model")
    table = pd.DataFrame(index=stats.index)
    for model in (design.single, "joint"):
        for stat in STATS:
            table[f"{model} {stat}"] = stats[(stat, model)] if (stat, model) in stats else float("nan")
    table[design.difference] = table["joint mean"] - table[f"{design.single} mean"]
    for name, column in design.baselines.items():
        if column in runs:  # sweeps from before the strong baselines have no kNN
            table[name] = runs.groupby("f")[column].mean()
    if SEED in runs:
        seeds = [SEED] + ([SPLIT_SEED] if SPLIT_SEED in runs and runs[SPLIT_SEED].nunique() > 1 else [])
        by_seed = runs.pivot_table(index=["f", *seeds], columns="model", values=design.metric, aggfunc="mean")
        if {design.single, "joint"} <= set(by_seed.columns):
            paired = (by_seed["joint"] - by_seed[design.single]).dropna().groupby("f")
            for stat in ("mean", "min", "max", "count"):
                table[f"{design.difference} {stat}"] = paired.agg(stat)
    return table.reset_index()


def _signed(value: float) -> str:
    return "" if value != value else f"{value:+.4f}"


def transfer_markdown(table: pd.DataFrame, design: Design = RATING) -> str:
    """The table of :func:`transfer_table` as Markdown."""
    task = design.task
    single, name = design.single, design.metric_name
    shown = pd.DataFrame(
        {
            f"{task} fraction": table["f"],
            f"{single} {name}": [
                f"{m:.4f} ± {s:.4f}" for m, s in zip(table[f"{single} mean"], table[f"{single} std"])
            ],
            f"joint {name}": [f"{m:.4f} ± {s:.4f}" for m, s in zip(table["joint mean"], table["joint std"])],
            design.difference: table[design.difference].round(4),
        }
    )
    paired = f"{design.difference} min" in table
    if paired:
        shown["per seed (min … max)"] = [
            f"{_signed(lo)} … {_signed(hi)}"
            for lo, hi in zip(table[f"{design.difference} min"], table[f"{design.difference} max"])
        ]
    for column, title in (("bias baseline", "bias baseline"), ("knn baseline", "item-kNN baseline")):
        if column in table:
            shown[title] = table[column].round(4)
    shown["seeds"] = table["joint count"].astype("Int64")
    better = "lower" if design.goal == "min" else "higher"
    note = f"mean ± standard deviation over seeds; {better} is better."
    if paired:
        note += (
            f" Per seed: joint - {single} for each seed run by both models (the same labels), within"
            " each dataset draw when the sweep has several (dataset.split_seed)."
        )
    return to_markdown(shown) + f"\n\n{note}\n"


def plot_transfer(table: pd.DataFrame, path: Path, design: Design = RATING) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, diff) = plt.subplots(1, 2, figsize=(10, 4.2), gridspec_kw={"width_ratios": [3, 2]})
    for model, color in ((design.single, "tab:blue"), ("joint", "tab:orange")):
        ax.plot(table["f"], table[f"{model} mean"], "o-", color=color, label=f"{model} (mean of seeds)")
        ax.fill_between(table["f"], table[f"{model} min"], table[f"{model} max"], color=color, alpha=0.2)
    if "bias baseline" in table:
        ax.plot(table["f"], table["bias baseline"], "k--", label="bias baseline (same labels)")
    if "knn baseline" in table:
        ax.plot(table["f"], table["knn baseline"], "k:", label="item-kNN baseline (same labels)")
    ax.set_xscale("log")
    ax.set_xlabel(design.x_label)
    ax.set_ylabel(design.y_label)
    ax.set_title(design.title, fontsize=10)
    ax.legend(fontsize=8)
    diff.axhline(0.0, color="k", linewidth=0.8)
    diff.plot(table["f"], table[design.difference], "o-", color="tab:green", label="difference of the means")
    if f"{design.difference} min" in table:
        diff.fill_between(
            table["f"],
            table[f"{design.difference} min"],
            table[f"{design.difference} max"],
            color="tab:green",
            alpha=0.2,
            label="per-seed range",
        )
    diff.set_xscale("log")
    diff.set_xlabel(f"{design.task} label fraction")
    diff.set_ylabel(f"{design.difference} ({design.metric_name})")
    side = "below" if design.goal == "min" else "above"
    diff.set_title(f"{design.difference}: {side} 0, joint is better", fontsize=10)
    diff.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
