"""``mtrec-register``: the best run of a sweep or an experiment, by a metric, as a version of a
named model in MLflow's registry, with an alias.

mtrec-register --sweep 20261128-101500-ab12cd --metric test/rmse --name movielens-joint --alias champion
mtrec-register --experiment mtrec --metric test/top_100_accuracy --name movielens-joint --alias challenger
mtrec-predict --model models:/movielens-joint@champion --user 42 --movie 'Star Wars (1977)'

Only FINISHED runs that logged a model count (as for ``mtrec-predict --experiment``). The store:
``--tracking-uri``, else ``$MLFLOW_TRACKING_URI``, else ``sqlite:///mlflow.db``; the experiment,
when neither ``--sweep`` nor ``--experiment`` is given: ``$MLFLOW_EXPERIMENT_NAME``, else mtrec.
"""

from __future__ import annotations

import argparse
import os
import sys

from mtrec.app.compare import CompareError, connect, parent_run_ids
from mtrec.app.model_lookup import CliError, best_run
from mtrec.serving.layout import MODEL_URI_TAG
from mtrec.tracking.store import resolve_target


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mtrec-register", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    which = p.add_mutually_exclusive_group()
    which.add_argument("--sweep", help="a sweep id (tag mtrec.sweep_id) or its parent run id")
    which.add_argument(
        "--experiment", help="an MLflow experiment (default: $MLFLOW_EXPERIMENT_NAME, else mtrec)"
    )
    p.add_argument("--metric", default="test/rmse", help="what 'best' means (default: %(default)s)")
    p.add_argument(
        "--direction",
        choices=("min", "max"),
        help="best = lowest or highest --metric (default: max for *_accuracy, else min)",
    )
    p.add_argument("--name", required=True, help="the registered model's name (created when missing)")
    p.add_argument("--alias", help="an alias to point at the new version, e.g. champion")
    p.add_argument(
        "--tracking-uri", help="the MLflow store (default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db)"
    )
    return p


def register(args: argparse.Namespace) -> str:
    """Registers the best run's model; returns what was done, as one line."""
    import mlflow

    args.tracking_uri = connect(args.tracking_uri)
    if args.sweep:
        [parent] = parent_run_ids([args.sweep])
        row = best_run(None, None, args.metric, args.direction, parent_run_id=parent)
    else:
        experiment = resolve_target(args.tracking_uri, args.experiment).experiment
        row = best_run(experiment, None, args.metric, args.direction)
    value = row[f"metrics.{args.metric}"]
    version = mlflow.register_model(
        row[f"tags.{MODEL_URI_TAG}"],
        args.name,
        tags={"mtrec.run_id": row["run_id"], "mtrec.metric": f"{args.metric}={value:.6g}"},
    )
    done = (
        f"registered run {row['run_id']} ({row.get('tags.mlflow.runName', '')}, {args.metric}={value:.4f}) "
        f"as {args.name} version {version.version}"
    )
    if args.alias:
        mlflow.MlflowClient().set_registered_model_alias(args.name, args.alias, version.version)
        done += f"; models:/{args.name}@{args.alias} is that version"
    return done


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    args = _parser().parse_args(argv)
    try:
        print(f"mtrec-register: {register(args)}")
    except (CompareError, CliError) as e:
        print(f"mtrec-register: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
