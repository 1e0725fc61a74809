"""``mtrec-transfer``: a transfer experiment's table and plot (a data-sparse task's test metric vs
its label fraction, for the task alone and trained jointly).

mtrec experiment=sparse_ratings dataset.path=../shared/data/ml-100k   # test RMSE (30 jobs)
mtrec-transfer --sweep <sweep id> --output docs/sparse_ratings        # transfer.md/.csv/.png
mtrec experiment=funnel_transfer                                      # test purchase AUC (24 jobs)
mtrec-transfer --task purchase --sweep <sweep id> --output docs/funnel_transfer

See :mod:`mtrec.reports.transfer` for what the table and plot show.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mtrec.app.compare import CompareError, connect, parent_run_ids
from mtrec.reports.sweep import load_sweep
from mtrec.reports.transfer import design_for, plot_transfer, transfer_markdown, transfer_table


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="mtrec-transfer", description=__doc__)
    p.add_argument("--sweep", action="append", required=True, help="sweep id or parent run id; repeatable")
    p.add_argument(
        "--tracking-uri", help="the MLflow store (default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db)"
    )
    p.add_argument(
        "--task",
        default="rating",
        help="the task whose labels were thinned (default: rating, by dataset.rating_fraction; "
        "another task by tasks.<task>.label_fraction, e.g. purchase)",
    )
    p.add_argument("--output", type=Path, help="write transfer.md, transfer.csv and transfer.png here")
    args = p.parse_args(argv)
    try:
        connect(args.tracking_uri)
        sweep = load_sweep(parent_run_ids(args.sweep), with_histories=False)
        design = design_for(args.task, sweep.runs)
        table = transfer_table(sweep, args.task)
    except (CompareError, ValueError, KeyError) as e:
        print(f"mtrec-transfer: error: {e}", file=sys.stderr)
        return 2
    text = transfer_markdown(table, design)
    if args.output is not None:
        args.output.mkdir(parents=True, exist_ok=True)
        (args.output / "transfer.md").write_text(text)
        table.to_csv(args.output / "transfer.csv", index=False)
        plot_transfer(table, args.output / "transfer.png", design)
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
