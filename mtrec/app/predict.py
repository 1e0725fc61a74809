"""``mtrec-predict`` and ``mtrec-recommend``: ask a logged run's model, in a fresh shell, no retraining.

Which model: ``--run RUN_ID``; or the best run of ``--experiment NAME`` and/or ``--sweep DIR`` by
``--metric`` (only finished runs that logged a model count); or ``--model`` with an MLflow model
URI, a downloaded model folder or an export folder. One query comes from ``--user`` (and
``--movie``); a batch from ``--input`` CSV (columns ``user_id``, and ``movie_title`` to predict),
written as CSV to ``--output`` (stdout by default). An id the run never trained on is an error
(exit 1) unless ``--allow-unknown`` asks for the model's cold-start answer.

The model is looked up in MLflow by a process of its own while this one imports TensorFlow
(:mod:`mtrec.app.model_lookup`); this process never imports MLflow.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mtrec.app import model_lookup
from mtrec.app.model_lookup import CliError

if TYPE_CHECKING:
    import pandas as pd

    from mtrec.serving.loading import LoadedModel

CLI_FIX = "Pass --allow-unknown for a cold-start answer."


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


def _read_csv(path: str, columns: list[str]) -> pd.DataFrame:
    import pandas as pd

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
    try:
        lookup = model_lookup.start(args)
    except CliError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 1
    try:
        from mtrec.serving import loading  # TensorFlow, while the lookup runs

        try:
            found = lookup.result()
            model = loading.load_export(found.export)
            if found.note:  # On stderr: stdout carries only the answer (a CSV in batch mode).
                print(f"{prog}: {found.note}", file=sys.stderr)
            answer(args, model)
        except (CliError, loading.UnknownIdError, loading.ExportError) as e:
            print(f"{prog}: error: {e}", file=sys.stderr)
            return 1
    finally:
        lookup.close()
    return 0


def _predict(args: argparse.Namespace, model: LoadedModel) -> None:
    from mtrec.serving.answers import ratings

    if args.input:
        pairs = _read_csv(args.input, ["user_id", "movie_title"])
        _write_csv(
            ratings(model, pairs["user_id"], pairs["movie_title"], args.allow_unknown, CLI_FIX), args.output
        )
        return
    tasks = model.tasks
    task = args.task or model.default_task
    if task not in tasks:
        raise CliError(f"--task {task}: the model's tasks are {', '.join(tasks)}")
    frame = ratings(model, [args.user], [args.movie], args.allow_unknown, CLI_FIX)
    value = frame[task][0]
    what = f"probability of {task}" if tasks[task] == "binary" else f"{task}"
    print(f"Predicted {what} of user {args.user} for {args.movie!r}: {value:.3f}{_cold_note(frame)}")


def _recommend(args: argparse.Namespace, model: LoadedModel) -> None:
    from mtrec.serving.answers import recommendations

    if args.input:
        users = _read_csv(args.input, ["user_id"])["user_id"]
        _write_csv(
            recommendations(model, users, args.k, args.exclude_seen, args.allow_unknown, CLI_FIX), args.output
        )
        return
    frame = recommendations(model, [args.user], args.k, args.exclude_seen, args.allow_unknown, CLI_FIX)
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
