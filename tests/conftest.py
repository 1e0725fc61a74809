"""Shared fixtures: a per-session MLflow store template cache, no MLflow variables from the shell,
and the real ml-100k.

Helpers (composition, subprocesses, ports) live in ``tests.helpers``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import ML_100K

MLFLOW_VARIABLES = (
    "MLFLOW_TRACKING_URI",
    "MLFLOW_EXPERIMENT_NAME",
    "MLFLOW_EXPERIMENT_ID",
    "MLFLOW_TRACKING_USERNAME",
    "MLFLOW_TRACKING_PASSWORD",
    "MLFLOW_TRACKING_TOKEN",
)


@pytest.fixture(autouse=True, scope="session")
def store_template_cache(tmp_path_factory: pytest.TempPathFactory):
    """The session's own cache folder (mtrec.tracking.template): its first new store makes the
    template, the rest copy it; nothing is read from or written to the user's cache."""
    previous = os.environ.get("MTREC_CACHE_DIR")
    os.environ["MTREC_CACHE_DIR"] = str(tmp_path_factory.mktemp("mtrec-cache"))
    yield
    if previous is None:
        del os.environ["MTREC_CACHE_DIR"]
    else:
        os.environ["MTREC_CACHE_DIR"] = previous


@pytest.fixture(autouse=True)
def no_mlflow_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests choose their store themselves: MLflow's variables of the shell running pytest (a
    team's server, its credentials) must not reach them, in process or in subprocesses."""
    for name in MLFLOW_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def ml_100k() -> Path:
    # Deliberately no skip: in CI the real data must be there, and a missing copy is a failure.
    assert (ML_100K / "u.data").is_file(), f"real MovieLens 100K expected at {ML_100K}"
    return ML_100K
