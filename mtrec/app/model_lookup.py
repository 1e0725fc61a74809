"""Which logged model the predict commands answer with, looked up in the MLflow store by a process
of its own while the command's process imports TensorFlow.

``mtrec-predict`` and ``mtrec-recommend`` need MLflow (its import and its SQL store, about 2 s)
only to find the model's export folder, and TensorFlow (about 2.5-3.5 s) only to load it; neither
needs the other. :func:`start` runs the lookup (:func:`find_export`) as
``python -m mtrec.app.model_lookup``, which answers one JSON line, so on two cores the lookup takes
no wall time of its own (measured 2026-12-04: docs/performance.md). A bare export folder needs no
lookup and starts none.

MLflow and pandas are imported inside the functions that use them: importing this module costs
the command's process nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import mtrec
from mtrec.serving.layout import METADATA_FILE, MODEL_URI_TAG
from mtrec.tracking.store import StoreError, missing_sqlite_store, resolve_target

if TYPE_CHECKING:
    import pandas as pd

# Maximised metrics; every other mtrec metric (rmse, losses, seconds) is minimised.
MAXIMISED_SUFFIX = "_accuracy"
# What the lookup reads of the command's arguments (argparse's names).
REQUEST_FIELDS = ("run", "model", "experiment", "sweep", "metric", "direction", "tracking_uri")


class CliError(Exception):
    """A problem the user can fix; printed as one ``prog: error: ...`` line, exit status 1."""


@dataclass(frozen=True)
class Found:
    """The chosen model's export folder, and how it was chosen (shown when it was not named)."""

    export: Path
    note: str | None = None


class Lookup:
    """A lookup under way in its own process (or one that needed none)."""

    def __init__(self, process: subprocess.Popen | None = None, found: Found | None = None) -> None:
        self._process, self._found = process, found

    def result(self) -> Found:
        """Waits for the lookup's answer.

        Raises:
          CliError: what the lookup found wrong (an unknown run, no store, not an mtrec model), or
            that it failed (its error is on stderr, above).
        """
        if self._found is not None:
            return self._found
        assert self._process is not None
        assert self._process.stdout is not None
        out = self._process.stdout.read()
        self._process.wait()
        try:
            answer = json.loads(out.splitlines()[-1]) if out.strip() else {}
        except ValueError:  # not the lookup's answer: whatever it printed before dying
            answer = {}
        if self._process.returncode != 0 or not isinstance(answer, dict) or not answer:
            raise CliError(f"looking up the model failed (exit status {self._process.returncode}); see above")
        if "error" in answer:
            raise CliError(answer["error"])
        self._found = Found(Path(answer["export"]), answer.get("note"))
        return self._found

    def close(self) -> None:
        """Stops a lookup whose answer is no longer wanted."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()


def start(args: argparse.Namespace) -> Lookup:
    """Starts looking up the model the command's arguments name (:func:`find_export`).

    Raises:
      CliError: for arguments that name no model, or more than one.
    """
    named = [flag for flag in ("run", "model") if getattr(args, flag)]
    searched = [flag for flag in ("experiment", "sweep") if getattr(args, flag)]
    if len(named) + bool(searched) != 1:
        raise CliError("choose one model: --run RUN_ID, --model URI, or --experiment NAME and/or --sweep DIR")
    if args.model and (Path(args.model) / METADATA_FILE).is_file():
        return Lookup(found=Found(Path(args.model)))  # An export folder: no store, no MLflow.
    request = {field: getattr(args, field) for field in REQUEST_FIELDS}
    package_parent = str(Path(mtrec.__file__).resolve().parents[1])  # this mtrec, installed or not
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [package_parent, os.environ.get("PYTHONPATH")])),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "mtrec.app.model_lookup"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    assert process.stdin is not None
    process.stdin.write(json.dumps(request))
    process.stdin.close()
    return Lookup(process)


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
    import mlflow

    direction = direction or ("max" if metric.endswith(MAXIMISED_SUFFIX) else "min")
    filters = ["attributes.status = 'FINISHED'", f"tags.`{MODEL_URI_TAG}` LIKE 'models:/%'"]
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


def choose_model(args: argparse.Namespace) -> tuple[str, str | None]:
    """The model URI that ``--run``, ``--model`` or ``--experiment``/``--sweep`` name, and how it
    was chosen (None when it was named)."""
    import mlflow
    from mlflow.exceptions import MlflowException

    if args.model and Path(args.model).exists():
        return args.model, None  # A local MLflow model folder: no tracking store involved.
    args.tracking_uri = open_store(args.tracking_uri)
    if args.model:
        return args.model, None
    if args.run:
        try:
            run = mlflow.get_run(args.run)
        except MlflowException:
            raise CliError(
                f"no run {args.run!r} in {args.tracking_uri}; copy the run id from the MLflow UI"
            ) from None
        uri = run.data.tags.get(MODEL_URI_TAG)
        if uri is None:
            raise CliError(
                f"run {args.run} logged no model (it ran with tracking.log_model=false, or failed "
                "before logging it); choose another run"
            )
        return uri, None
    row = best_run(args.experiment, args.sweep, args.metric, args.direction)
    scope = " ".join(
        f"{flag} {getattr(args, flag)!r}" for flag in ("experiment", "sweep") if getattr(args, flag)
    )
    note = (
        f"best run of {scope} by {args.metric}: {row['run_id']} "
        f"({row.get('tags.mlflow.runName', '')}), {args.metric}={row[f'metrics.{args.metric}']:.4f}"
    )
    return row[f"tags.{MODEL_URI_TAG}"], note


def find_export(args: argparse.Namespace) -> Found:
    """The export folder of the model the arguments name, found through MLflow.

    Raises:
      CliError: for an unknown run or experiment, a store that cannot be used, or a URI that is
        not an mtrec model.
    """
    from mlflow.exceptions import MlflowException

    from mtrec.serving.locate import NotMtrecModelError, logged_export

    uri, note = choose_model(args)
    try:
        return Found(logged_export(uri), note)
    except (MlflowException, OSError) as e:
        raise CliError(f"cannot load model {uri!r}: {str(e).splitlines()[0]}") from None
    except NotMtrecModelError as e:
        raise CliError(str(e)) from None


def main() -> None:
    """The lookup's process: a JSON request on stdin, one JSON line on stdout (``export`` and
    ``note``, or ``error``)."""
    request = json.loads(sys.stdin.read())
    try:
        found = find_export(argparse.Namespace(**request))
        answer = {"export": str(found.export), "note": found.note}
    except CliError as e:
        answer = {"error": str(e)}
    print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
