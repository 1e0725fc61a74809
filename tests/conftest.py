"""Shared fixtures: config composition without the CLI, the real ml-100k, and CLI subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from mtrec.cli import CONF_DIR

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
# The real MovieLens 100K lives beside the project, never inside it (GroupLens terms).
ML_100K = REPO.parent / "shared" / "data" / "ml-100k"


def compose_config(*overrides: str):
    """The config `mtrec <overrides>` would run, composed the way Hydra's CLI composes it."""
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


@pytest.fixture
def ml_100k() -> Path:
    # Deliberately no skip: in CI the real data must be there, and a missing copy is a failure.
    assert (ML_100K / "u.data").is_file(), f"real MovieLens 100K expected at {ML_100K}"
    return ML_100K


def run_mtrec(cwd: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    """Runs `python -m mtrec ARGS` in `cwd`, as a user would, with a SQLite store there."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, "-m", "mtrec", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def runs_in(db: Path, experiment: str = "mtrec"):
    """All runs of an experiment in a SQLite store, as a pandas DataFrame."""
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{db}")
    return mlflow.search_runs(experiment_names=[experiment])
