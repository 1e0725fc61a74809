"""``mtrec-compare``: rebuild a sweep's table, Pareto set and plots from MLflow alone.

mtrec-compare --sweep 20261128-101500-ab12cd            # the end-of-sweep report, again
mtrec-compare --sweep ID1 --sweep ID2 --sort test/rmse  # several sweeps in one table
mtrec-compare --experiment mtrec --format csv           # every job of an experiment
mtrec-compare                                           # every job of $MLFLOW_EXPERIMENT_NAME, else mtrec
mtrec-compare --sweep ID --pareto test/rmse:min --pareto test/ndcg_at_10:max --pareto test/recall_at_10:max

The store: --tracking-uri, else $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db (as `mtrec`).

"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from mtrec.config import ConfigError, ParetoObjective, validate_pareto
from mtrec.tracking.store import StoreError, missing_sqlite_store, resolve_target


class CompareError(RuntimeError):
    """A sweep, experiment or store that cannot be read; printed as one line."""


DEFAULT_PARETO = "test/rmse:min,test/top_100_accuracy:max"


def _parse_pareto(text: str) -> list[ParetoObjective]:
    """One ``--pareto`` value: ``METRIC:min|max``, or several of them separated by commas."""
    objectives = []
    for part in text.split(","):
        metric, _, goal = part.partition(":")
        if not metric or goal not in ("min", "max"):
            raise argparse.ArgumentTypeError(f"expected METRIC:min|max, got {part!r}")
        objectives.append(ParetoObjective(metric, goal))
    return objectives


def pareto_objectives(values: list[list[ParetoObjective]] | None) -> list[ParetoObjective]:
    """Every ``--pareto`` value, in order (the default when none is given); checked as
    ``sweep.pareto`` is.

    Raises:
      ConfigError: fewer than two objectives, or a metric twice.
    """
    objectives = [o for value in values or [_parse_pareto(DEFAULT_PARETO)] for o in value]
    validate_pareto(objectives, key="--pareto")
    return objectives


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mtrec-compare", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    what = p.add_mutually_exclusive_group()
    what.add_argument(
        "--sweep", action="append", help="sweep id (tag mtrec.sweep_id) or parent run id; repeatable"
    )
    what.add_argument(
        "--experiment",
        help="every job run of this MLflow experiment (default: $MLFLOW_EXPERIMENT_NAME, else mtrec)",
    )
    p.add_argument(
        "--tracking-uri", help="the MLflow store (default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db)"
    )
    p.add_argument("--metrics", help="comma-separated metric columns (default: every test/* metric)")
    p.add_argument("--sort", help="sort jobs by this column (default: job order)")
    p.add_argument("--desc", action="store_true", help="sort from the largest value")
    p.add_argument("--format", choices=("md", "csv"), default="md")
    p.add_argument(
        "--pareto",
        type=_parse_pareto,
        action="append",
        metavar="METRIC:min|max",
        help="an objective of the Pareto set; repeat it (or separate objectives by commas) for two or "
        f"more (default: {DEFAULT_PARETO})",
    )
    p.add_argument("--output", type=Path, help="also write summary.csv/.md, pareto.png, curves.png here")
    return p


def connect(uri: str | None) -> str:
    """Opens the store (``uri``, else as :func:`mtrec.tracking.store.resolve_target` says) and
    returns its URI; fails fast, with one line, on a store that is not there or does not answer."""
    from mtrec.tracking.connect import open_store

    try:
        uri = resolve_target(uri).uri
        path = missing_sqlite_store(uri)
        if path is not None:
            raise CompareError(f"no MLflow store at {uri} ({path} does not exist); pass --tracking-uri")
        open_store(uri)
    except StoreError as e:
        raise CompareError(str(e)) from None
    return uri


def parent_run_ids(sweep_ids: list[str]) -> list[str]:
    import mlflow

    ids = []
    for sweep_id in sweep_ids:
        runs = mlflow.search_runs(
            search_all_experiments=True,
            filter_string=f"tags.`mtrec.role` = 'sweep' and tags.`mtrec.sweep_id` = '{sweep_id}'",
            output_format="list",
        )
        if not runs:
            try:
                run = mlflow.get_run(sweep_id)
            except Exception:
                run = None
            if run is None or run.data.tags.get("mtrec.role") != "sweep":
                raise CompareError(f"unknown sweep {sweep_id!r}: no sweep run has this id or sweep id")
            runs = [run]
        ids.append(runs[0].info.run_id)
    return ids


def compare(args: argparse.Namespace) -> str:
    from mtrec.reports import report, tables
    from mtrec.reports import sweep as sweeps

    args.tracking_uri = connect(args.tracking_uri)
    if args.sweep:
        sweep = sweeps.load_sweep(parent_run_ids(args.sweep), with_histories=args.output is not None)
    else:
        import mlflow

        args.experiment = resolve_target(args.tracking_uri, args.experiment).experiment
        if mlflow.get_experiment_by_name(args.experiment) is None:
            raise CompareError(f"unknown experiment {args.experiment!r} in {args.tracking_uri}")
        sweep = sweeps.load_experiment(args.experiment, with_histories=args.output is not None)
    if sweep.num_jobs == 0:
        raise CompareError(f"{sweep.title} has no runs")
    options = {
        "metrics": args.metrics.split(",") if args.metrics else None,
        "sort_by": args.sort,
        "descending": args.desc,
    }
    columns = list(tables.summary_table(sweep, args.pareto, metrics=options["metrics"]).columns)
    if args.sort and args.sort not in columns:
        raise CompareError(f"--sort {args.sort!r} is not a column; columns are {columns}")
    table = tables.summary_table(sweep, args.pareto, **options)
    if args.output is not None:
        report.write_report(sweep, args.output, args.pareto, **options)
    if args.format == "csv":
        return table.to_csv(index=False)
    return tables.summary_markdown(sweep, args.pareto, **options)


def main(argv: list[str] | None = None) -> int:
    # An HTTP store that is down should fail in seconds, not after MLflow's minutes of retries.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        args.pareto = pareto_objectives(args.pareto)
    except ConfigError as e:
        parser.error(str(e))  # exit status 2, like argparse's own errors
    try:
        sys.stdout.write(compare(args))
    except CompareError as e:
        print(f"mtrec-compare: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
