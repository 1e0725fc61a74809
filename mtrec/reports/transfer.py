"""The transfer experiment's table and plot: test RMSE vs the fraction of labelled ratings.

Each job is a (rating fraction f, model, seed); "rating-only" jobs have retrieval weight 0, the
others are "joint". Per f and model the table gives the mean and spread over seeds of test RMSE,
and the plot draws one line per model with the seeds' range as a band, plus the bias baseline
and (for sweeps that logged it) the item-kNN baseline, both fitted on the same labelled ratings.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mtrec.reports.sweep import Sweep
from mtrec.reports.tables import to_markdown

FRACTION = "params.dataset.rating_fraction"
RMSE = "metrics.test/rmse"
BIAS = "metrics.baseline/bias/rmse"
KNN = "metrics.baseline/knn/rmse"


def transfer_table(sweep: Sweep) -> pd.DataFrame:
    """One row per rating fraction: per model the mean, std and count of test RMSE over seeds."""
    runs = sweep.runs[sweep.runs["status"] == "FINISHED"].copy()
    if runs.empty:
        raise ValueError(f"{sweep.title} has no finished runs")
    runs["f"] = runs[FRACTION].astype(float)
    runs["model"] = [
        "rating-only" if float(w) == 0 else "joint" for w in runs["params.loss.retrieval_weight"]
    ]
    stats = runs.groupby(["f", "model"])[RMSE].agg(["mean", "std", "min", "max", "count"]).unstack("model")
    table = pd.DataFrame(index=stats.index)
    for model in ("rating-only", "joint"):
        for stat in ("mean", "std", "min", "max", "count"):
            table[f"{model} {stat}"] = stats[(stat, model)] if (stat, model) in stats else float("nan")
    table["joint - rating-only"] = table["joint mean"] - table["rating-only mean"]
    table["bias baseline"] = runs.groupby("f")[BIAS].mean()
    if KNN in runs:  # sweeps from before the strong baselines have none
        table["knn baseline"] = runs.groupby("f")[KNN].mean()
    return table.reset_index()


def transfer_markdown(table: pd.DataFrame) -> str:
    shown = pd.DataFrame(
        {
            "rating fraction": table["f"],
            "rating-only RMSE": [
                f"{m:.4f} ± {s:.4f}" for m, s in zip(table["rating-only mean"], table["rating-only std"])
            ],
            "joint RMSE": [f"{m:.4f} ± {s:.4f}" for m, s in zip(table["joint mean"], table["joint std"])],
            "joint - rating-only": table["joint - rating-only"].round(4),
            "bias baseline": table["bias baseline"].round(4),
            **({"item-kNN baseline": table["knn baseline"].round(4)} if "knn baseline" in table else {}),
            "seeds": table["joint count"].astype("Int64"),
        }
    )
    return to_markdown(shown) + "\n\nmean ± standard deviation over seeds; lower is better.\n"


def plot_transfer(table: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for model, color in (("rating-only", "tab:blue"), ("joint", "tab:orange")):
        ax.plot(table["f"], table[f"{model} mean"], "o-", color=color, label=f"{model} (mean of seeds)")
        ax.fill_between(table["f"], table[f"{model} min"], table[f"{model} max"], color=color, alpha=0.2)
    ax.plot(table["f"], table["bias baseline"], "k--", label="bias baseline (same labels)")
    if "knn baseline" in table:
        ax.plot(table["f"], table["knn baseline"], "k:", label="item-kNN baseline (same labels)")
    ax.set_xscale("log")
    ax.set_xlabel("fraction of training ratings labelled (dataset.rating_fraction)")
    ax.set_ylabel("test RMSE")
    ax.set_title("Does retrieval help a data-sparse rating task? (band: seed range)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
