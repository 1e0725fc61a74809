"""``mtrec-transfer``: a transfer experiment's table and plot (a data-sparse task's test metric vs
its label fraction, for the task alone and trained jointly).

mtrec experiment=sparse_ratings dataset.path=../shared/data/ml-100k   # test RMSE (30 jobs)
mtrec-transfer --sweep <sweep id> --output docs/sparse_ratings        # transfer.md/.csv/.png
mtrec experiment=funnel_transfer                                      # test purchase AUC (24 jobs)
mtrec-transfer --task purchase --sweep <sweep id> --output docs/funnel_transfer
mtrec-transfer --task purchase --sweep <sweep id> --where dataset.split_seed=42   # one draw's jobs

See :mod:`mtrec.reports.transfer` for what the table and plot show.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from mtrec.app.compare import CompareError, connect, parent_run_ids
from mtrec.reports.sweep import Sweep, load_sweep
from mtrec.reports.transfer import design_for, plot_transfer, transfer_markdown, transfer_table


def only(sweep: Sweep, where: list[str]) -> Sweep:
    """The jobs whose logged params match every ``KEY=VALUE`` of ``where`` (compared as logged).

    Raises:
      ValueError: a condition is not ``KEY=VALUE``, or no job logged ``KEY``.
    """
    runs = sweep.runs
    for condition in where:
        key, sep, value = condition.partition("=")
        if not sep or not key:
            raise ValueError(f"--where {condition!r}: expected KEY=VALUE, e.g. dataset.split_seed=42")
        column = f"params.{key}"
        if column not in runs:
            raise ValueError(f"--where {condition!r}: no job of {sweep.title} logged {key}")
        runs = runs[runs[column] == value]
    title = f"{sweep.title} where {', '.join(where)}" if where else sweep.title
    return replace(sweep, runs=runs, title=title)


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
    p.add_argument(
        "--where",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="only the jobs whose param KEY was logged as VALUE (e.g. dataset.split_seed=42); repeatable",
    )
    p.add_argument("--output", type=Path, help="write transfer.md, transfer.csv and transfer.png here")
    args = p.parse_args(argv)
    try:
        connect(args.tracking_uri)
        sweep = only(load_sweep(parent_run_ids(args.sweep), with_histories=False), args.where)
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
