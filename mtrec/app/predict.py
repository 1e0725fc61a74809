"""``mtrec-predict`` and ``mtrec-recommend``: ask a logged run's model, in a fresh shell, no retraining.

Which model: ``--run RUN_ID``; or the best run of ``--experiment NAME`` and/or ``--sweep DIR`` by
``--metric`` (only finished runs that logged a model count); or ``--model`` with an MLflow model
URI, a downloaded model folder or an export folder. One query comes from ``--user`` (and
``--movie``); a batch from ``--input`` CSV (columns ``user_id``, and ``movie_title`` to predict),
written as CSV to ``--output`` (stdout by default). An id the run never trained on is an error
(exit 1) unless ``--allow-unknown`` asks for the model's cold-start answer.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException

from mtrec.serving import loading, pyfunc
from mtrec.tracking.store import StoreError, missing_sqlite_store, resolve_target

CLI_FIX = "Pass --allow-unknown for a cold-start answer."
# Maximised metrics; every other mtrec metric (rmse, losses, seconds) is minimised.
MAXIMISED_SUFFIX = "_accuracy"


class CliError(Exception):
    """A problem the user can fix; printed as one ``prog: error: ...`` line, exit status 1."""


@dataclass(frozen=True)
class ModelChoice:
    """A model to load, and how it was chosen (shown when it was not named directly)."""

    uri: str
    note: str | None = None


def _parser(prog: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    which = parser.add_argument_group("which model (--run, --model, or --experiment and/or --sweep)")
    which.add_argument("--run", metavar="RUN_ID", help="an MLflow run id")
    which.add_argument("--experiment", metavar="NAME", help="the best run of this MLflow experiment")
    which.add_argument(
        "--sweep",
        metavar="DIR",
        help="the best run of one Hydra multirun: its sweep folder, or its end (2026-11-28/10-00-00)",
    )
    which.add_argument(
        "--model",
        metavar="URI",
        help="an MLflow model URI (models:/m-..., runs:/ID/model), a downloaded model or an export folder",
    )
    which.add_argument("--metric", default="test/rmse", help="what 'best' means (default: %(default)s)")
    which.add_argument(
        "--direction",
        choices=("min", "max"),
        help="best = lowest or highest --metric (default: max for *_accuracy, else min)",
    )
    which.add_argument(
        "--tracking-uri",
        help="MLflow tracking URI, as mtrec's tracking.uri (default: $MLFLOW_TRACKING_URI, else "
        "sqlite:///mlflow.db)",
    )
    parser.add_argument("--input", metavar="CSV", help="batch mode: a CSV with a header row")
    parser.add_argument("--output", metavar="CSV", default="-", help="batch output (default: stdout)")
    parser.add_argument(
        "--allow-unknown",
        action="store_true",
        help="answer unknown ids from the mean trained embedding (cold start) instead of failing",
    )
    return parser


def open_store(tracking_uri: str | None) -> str:
    """Opens the store (``--tracking-uri``, else as :func:`mtrec.tracking.store.resolve_target`
    says) and returns its URI. Refuses a SQLite store that does not exist, which MLflow would
    silently create empty, and a store that cannot be used."""
    from mtrec.tracking import connect

    try:
        tracking_uri = resolve_target(tracking_uri).uri
        path = missing_sqlite_store(tracking_uri)
        if path is not None:
            raise CliError(
                f"no MLflow store at {path} ({tracking_uri}); run where mtrec ran, or pass "
                "--tracking-uri sqlite:////absolute/path/mlflow.db"
            )
        connect.open_store(tracking_uri)
    except StoreError as e:
        raise CliError(str(e)) from None
    return tracking_uri


def best_run(
    experiment: str | None,
    sweep: str | None,
    metric: str,
    direction: str | None = None,
    parent_run_id: str | None = None,
) -> pd.Series:
    """The finished run with a logged model and the best ``metric``, from the current tracking URI.

    Args:
      experiment: an MLflow experiment name; ``None`` searches every experiment.
      sweep: a Hydra sweep folder (tag ``mtrec.sweep_dir``), or its trailing part; ``None``: any.
      metric: the metric to rank by, e.g. ``test/rmse``.
      direction: ``"min"`` or ``"max"``; ``None`` picks max for ``*_accuracy``, else min.
      parent_run_id: only the jobs of this sweep run (``mtrec-register --sweep``); ``None``: any.

    Returns:
      The run's row of ``mlflow.search_runs`` (``run_id``, ``tags.mlflow.runName``, metrics...).

    Raises:
      CliError: for an unknown experiment, or when no run qualifies (saying why).
    """
    direction = direction or ("max" if metric.endswith(MAXIMISED_SUFFIX) else "min")
    filters = ["attributes.status = 'FINISHED'", f"tags.`{pyfunc.MODEL_URI_TAG}` LIKE 'models:/%'"]
    if sweep:
        filters.append(f"tags.`mtrec.sweep_dir` LIKE '%{sweep.rstrip('/')}'")
    if parent_run_id:
        filters.append(f"tags.`mlflow.parentRunId` = '{parent_run_id}'")
    where = f"experiment {experiment!r}" if experiment else "any experiment"
    if experiment:
        if mlflow.get_experiment_by_name(experiment) is None:
            names = ", ".join(e.name for e in mlflow.search_experiments())
            raise CliError(f"no experiment named {experiment!r} (there are: {names or 'none'})")
        scope: dict = {"experiment_names": [experiment]}
    else:
        scope = {"search_all_experiments": True}
    runs = mlflow.search_runs(
        filter_string=" and ".join(filters),
        order_by=[f"metrics.`{metric}` {'DESC' if direction == 'max' else 'ASC'}"],
        **scope,
    )
    column = f"metrics.{metric}"
    if column in runs.columns:
        runs = runs[runs[column].notna()]
    if runs.empty or column not in runs.columns:
        in_sweep = f" in sweep {sweep or parent_run_id!r}" if sweep or parent_run_id else ""
        raise CliError(
            f"no finished run with a logged model and metric {metric!r} in {where}{in_sweep}; "
            "check the names in the MLflow UI (runs logged with tracking.log_model=false have no model)"
        )
    return runs.iloc[0]


def choose_model(args: argparse.Namespace) -> ModelChoice:
    """The model URI that ``--run``, ``--model`` or ``--experiment``/``--sweep`` name."""
    named = [flag for flag in ("run", "model") if getattr(args, flag)]
    searched = [flag for flag in ("experiment", "sweep") if getattr(args, flag)]
    if len(named) + bool(searched) != 1:
        raise CliError("choose one model: --run RUN_ID, --model URI, or --experiment NAME and/or --sweep DIR")
    if args.model and Path(args.model).exists():
        return ModelChoice(args.model)  # A local folder: no tracking store involved.
    args.tracking_uri = open_store(args.tracking_uri)
    if args.model:
        return ModelChoice(args.model)
    if args.run:
        try:
            run = mlflow.get_run(args.run)
        except MlflowException:
            raise CliError(
                f"no run {args.run!r} in {args.tracking_uri}; copy the run id from the MLflow UI"
            ) from None
        uri = run.data.tags.get(pyfunc.MODEL_URI_TAG)
        if uri is None:
            raise CliError(
                f"run {args.run} logged no model (it ran with tracking.log_model=false, or failed "
                "before logging it); choose another run"
            )
        return ModelChoice(uri)
    row = best_run(args.experiment, args.sweep, args.metric, args.direction)
    scope = " ".join(f"{flag} {getattr(args, flag)!r}" for flag in searched)
    note = (
        f"best run of {scope} by {args.metric}: {row['run_id']} "
        f"({row.get('tags.mlflow.runName', '')}), {args.metric}={row[f'metrics.{args.metric}']:.4f}"
    )
    return ModelChoice(row[f"tags.{pyfunc.MODEL_URI_TAG}"], note)


def load_model(uri: str) -> pyfunc.MtrecPyfunc:
    """Loads an MLflow model URI or folder, or a bare export folder, as the mtrec pyfunc."""
    if (Path(uri) / loading.METADATA_FILE).is_file():
        model = pyfunc.MtrecPyfunc()
        model.model = loading.load_export(Path(uri))
        return model
    try:
        return pyfunc.load_logged(uri)
    except (MlflowException, OSError) as e:
        raise CliError(f"cannot load model {uri!r}: {str(e).splitlines()[0]}") from None
    except pyfunc.NotMtrecModelError as e:
        raise CliError(str(e)) from None


def _read_csv(path: str, columns: list[str]) -> pd.DataFrame:
    try:
        # Ids stay strings exactly as written: "042" is not 42, and a title "NA" is not missing.
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise CliError(f"cannot read {path}: {e}") from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise CliError(
            f"{path}: no column {', '.join(missing)} (found: {', '.join(frame.columns)}); "
            f"the first row must name the columns {', '.join(columns)}"
        )
    return frame


def _write_csv(frame: pd.DataFrame, path: str) -> None:
    frame.to_csv(sys.stdout if path == "-" else path, index=False)


def _cold_note(frame: pd.DataFrame) -> str:
    unknown = [
        kind for kind in ("user", "movie") if f"{kind}_known" in frame and not frame[f"{kind}_known"].all()
    ]
    return f"  (cold start: unknown {' and '.join(unknown)})" if unknown else ""


def _run(prog: str, args: argparse.Namespace, answer: Callable[[argparse.Namespace, Any], None]) -> int:
    """Loads the chosen model and calls ``answer(args, model)``; a fixable error becomes one line."""
    # MLflow draws progress bars on stderr while it copies artifacts; the answer is all that matters.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    try:
        choice = choose_model(args)
        model = load_model(choice.uri)
        if choice.note:  # On stderr: stdout carries only the answer (a CSV in batch mode).
            print(f"{prog}: {choice.note}", file=sys.stderr)
        answer(args, model)
    except (CliError, loading.UnknownIdError, loading.ExportError) as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 1
    return 0


def _predict(args: argparse.Namespace, model: pyfunc.MtrecPyfunc) -> None:
    if args.input:
        pairs = _read_csv(args.input, ["user_id", "movie_title"])
        _write_csv(
            model.ratings(pairs["user_id"], pairs["movie_title"], args.allow_unknown, CLI_FIX), args.output
        )
        return
    tasks = model.model.tasks
    task = args.task or model.model.default_task
    if task not in tasks:
        raise CliError(f"--task {task}: the model's tasks are {', '.join(tasks)}")
    frame = model.ratings([args.user], [args.movie], args.allow_unknown, CLI_FIX)
    value = frame[task][0]
    what = f"probability of {task}" if tasks[task] == "binary" else f"{task}"
    print(f"Predicted {what} of user {args.user} for {args.movie!r}: {value:.3f}{_cold_note(frame)}")


def _recommend(args: argparse.Namespace, model: pyfunc.MtrecPyfunc) -> None:
    if args.input:
        users = _read_csv(args.input, ["user_id"])["user_id"]
        _write_csv(
            model.recommendations(users, args.k, args.exclude_seen, args.allow_unknown, CLI_FIX), args.output
        )
        return
    frame = model.recommendations([args.user], args.k, args.exclude_seen, args.allow_unknown, CLI_FIX)
    seen = " (movies rated in training excluded)" if args.exclude_seen else ""
    print(f"Top {len(frame)} movies for user {args.user}{seen}{_cold_note(frame)}")
    print(f"{'rank':>4}  {'score':>7}  title")
    for row in frame.itertuples():
        print(f"{row.rank:>4}  {row.score:>7.3f}  {row.movie_title}")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1 (got {value})")
    return value


def predict_main(argv: list[str] | None = None) -> int:
    """``mtrec-predict``: a run's predicted rating of a movie by a user (or of a CSV of pairs)."""
    parser = _parser("mtrec-predict", "Predict a user's rating of a movie with a logged mtrec model.")
    query = parser.add_argument_group("one query (instead of --input)")
    query.add_argument("--user", help="a user id, as in the data (MovieLens: '42')")
    query.add_argument("--movie", help="a movie title, as in the data: 'Dances with Wolves (1990)'")
    parser.add_argument(
        "--task",
        help="which task's prediction to print for one query (default: the model's first regression "
        "task, the tutorial's rating); --input writes a column per task",
    )
    args = parser.parse_args(argv)
    one_query = args.user is not None and args.movie is not None
    no_query = args.user is None and args.movie is None
    if not ((one_query and args.input is None) or (no_query and args.input is not None)):
        parser.error("give --user and --movie, or --input CSV with columns user_id,movie_title")
    return _run("mtrec-predict", args, _predict)


def recommend_main(argv: list[str] | None = None) -> int:
    """``mtrec-recommend``: a run's top-K movies for a user (or for a CSV of users)."""
    parser = _parser("mtrec-recommend", "Recommend movies to a user with a logged mtrec model.")
    query = parser.add_argument_group("one query (instead of --input)")
    query.add_argument("--user", help="a user id, as in the data (MovieLens: '42')")
    parser.add_argument("-k", type=_positive_int, default=10, help="how many movies (default: %(default)s)")
    parser.add_argument(
        "--exclude-seen", action="store_true", help="leave out the movies the user rated in training"
    )
    args = parser.parse_args(argv)
    if (args.input is None) == (args.user is None):
        parser.error("give --user, or --input CSV with a user_id column")
    return _run("mtrec-recommend", args, _recommend)
