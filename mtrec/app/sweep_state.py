"""The files through which a sweep's jobs find its MLflow parent run (``mtrec_sweep.json`` in the
sweep folder, written when the multirun starts) and, in an Optuna search, its study
(``mtrec_study.json``, written by the sweeper); read by every job (in this process or in a
launcher's worker)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

STATE_FILE = "mtrec_sweep.json"
STUDY_FILE = "mtrec_study.json"


def write(sweep_dir: Path, parent_run_id: str, sweep_id: str, tracking_uri: str, experiment: str) -> None:
    """Records the parent run and the store it lives in: the sweep's jobs log into that store and
    experiment, whatever their own environment says (a launcher's worker may not see the
    driver's ``MLFLOW_TRACKING_URI``)."""
    sweep_dir.mkdir(parents=True, exist_ok=True)
    state = {
        "parent_run_id": parent_run_id,
        "sweep_id": sweep_id,
        "tracking_uri": tracking_uri,
        "experiment": experiment,
    }
    (sweep_dir / STATE_FILE).write_text(json.dumps(state))


def read(sweep_dir: str | Path) -> dict[str, str] | None:
    """The sweep's parent run id, sweep id, store and experiment, or None when no parent was opened
    (tracking off)."""
    path = Path(sweep_dir) / STATE_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def write_study(sweep_dir: Path, storage: str, study_name: str, pruner: dict[str, Any] | None) -> None:
    """Records the study of an Optuna search: its storage URL, name, and the pruner's config
    (``_target_`` and arguments; None for a multi-objective study, which Optuna does not prune).
    The storage URL stays in this file, never in a job's config or MLflow params."""
    sweep_dir.mkdir(parents=True, exist_ok=True)
    state = {"storage": storage, "study_name": study_name, "pruner": pruner}
    (sweep_dir / STUDY_FILE).write_text(json.dumps(state))


def read_study(sweep_dir: str | Path) -> dict[str, Any] | None:
    """The search's storage, study name and pruner config, or None outside an Optuna search."""
    path = Path(sweep_dir) / STUDY_FILE
    return json.loads(path.read_text()) if path.is_file() else None
