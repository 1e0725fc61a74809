"""Shared fixtures: a per-session MLflow store template cache, no MLflow variables from the shell,
the real ml-100k, and a throw-away PostgreSQL server.

Helpers (composition, subprocesses, ports) live in ``tests.helpers``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import ML_100K, as_postgres, free_port, postgres_bin, stop_process_group, wait_until

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


@pytest.fixture
def postgres_uri() -> Iterator[str]:
    """A throw-away PostgreSQL cluster on 127.0.0.1, owned by the test, with an empty `mlflow` database."""
    # Under /tmp, not tmp_path: the postgres user must be able to reach it.
    data_dir = Path(tempfile.mkdtemp(prefix="mtrec-pg-", dir="/tmp"))
    if os.geteuid() == 0:
        shutil.chown(data_dir, "postgres", "postgres")
    port = free_port()
    subprocess.run(
        as_postgres(postgres_bin("initdb"), "-D", str(data_dir), "-U", "mtrec", "--auth=trust"),
        check=True,
        capture_output=True,
    )
    server = subprocess.Popen(
        as_postgres(
            postgres_bin("postgres"),
            "-D",
            str(data_dir),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-k",
            str(data_dir),
        ),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        createdb = [postgres_bin("createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "mtrec", "mlflow"]
        wait_until(lambda: subprocess.run(createdb, capture_output=True).returncode == 0, 60, "PostgreSQL")
        yield f"postgresql://mtrec@127.0.0.1:{port}/mlflow"
    finally:
        stop_process_group(server, sig=signal.SIGINT)  # PostgreSQL's "fast" shutdown
        shutil.rmtree(data_dir, ignore_errors=True)
