"""``mtrec-transfer``: the transfer experiment's table and plot (test RMSE vs rating fraction).

mtrec experiment=sparse_ratings dataset.path=../shared/data/ml-100k   # the sweep (30 jobs)
mtrec-transfer --sweep <sweep id> --output docs/                      # transfer.md/.csv/.png

Each job is a (rating fraction f, model, seed); "rating-only" jobs have retrieval weight 0, the
others are "joint". Per f and model the table gives the mean and spread over seeds of test RMSE,
and the plot draws one line per model with the seeds' range as a band, plus the bias baseline
fitted on the same labelled ratings.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import pandas as pd

from mtrec.report import Sweep, load_sweep, to_markdown

FRACTION = "params.dataset.rating_fraction"
RMSE = "metrics.test/rmse"
BIAS = "metrics.baseline/bias/rmse"


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
    ax.set_xscale("log")
    ax.set_xlabel("fraction of training ratings labelled (dataset.rating_fraction)")
    ax.set_ylabel("test RMSE")
    ax.set_title("Does retrieval help a data-sparse rating task? (band: seed range)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    from mtrec.compare import DEFAULT_URI, CompareError, _connect, _parent_run_ids

    p = argparse.ArgumentParser(prog="mtrec-transfer", description=__doc__)
    p.add_argument("--sweep", action="append", required=True, help="sweep id or parent run id; repeatable")
    p.add_argument("--tracking-uri", default=os.environ.get("MLFLOW_TRACKING_URI", DEFAULT_URI))
    p.add_argument("--output", type=Path, help="write transfer.md, transfer.csv and transfer.png here")
    args = p.parse_args(argv)
    try:
        _connect(args.tracking_uri)
        table = transfer_table(load_sweep(_parent_run_ids(args.sweep), with_histories=False))
    except (CompareError, ValueError, KeyError) as e:
        print(f"mtrec-transfer: error: {e}", file=sys.stderr)
        return 2
    text = transfer_markdown(table)
    if args.output is not None:
        args.output.mkdir(parents=True, exist_ok=True)
        (args.output / "transfer.md").write_text(text)
        table.to_csv(args.output / "transfer.csv", index=False)
        plot_transfer(table, args.output / "transfer.png")
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
