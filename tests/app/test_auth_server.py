"""mtrec against a real `mlflow server --app-name basic-auth` on loopback: refused in one line
without credentials, a finished run with MLflow's own variables, and the password nowhere mtrec
writes (the server's store and artifacts, Hydra's output folders)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest

from tests.helpers import run_mtrec, serve_mlflow

ADMIN = "admin"


@pytest.fixture
def auth_server(tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    """`mlflow server --app-name basic-auth` (the server extra's Flask-WTF) on a SQLite store;
    yields its URL, the admin's password and the server's folder."""
    password = secrets.token_urlsafe(24)
    config = tmp_path / "secrets" / "auth.ini"  # the one file that holds the password by design
    config.parent.mkdir()
    server_dir = tmp_path / "server"
    server_dir.mkdir()
    config.write_text(
        "[mlflow]\n"
        "default_permission = READ\n"
        f"database_uri = sqlite:///{server_dir / 'basic_auth.db'}\n"
        f"admin_username = {ADMIN}\n"
        f"admin_password = {password}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
    )
    options = ["--app-name", "basic-auth", "--backend-store-uri", f"sqlite:///{server_dir / 'mlflow.db'}"]
    options += ["--artifacts-destination", str(server_dir / "artifacts"), "--workers", "1"]
    env = {
        **os.environ,
        "MLFLOW_AUTH_CONFIG_PATH": str(config),
        # The basic-auth app signs its CSRF tokens with it (MLflow 3.17 refuses to start without).
        "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_hex(16),
    }
    with serve_mlflow(options, server_dir / "server.log", 180, env=env, cwd=server_dir) as url:
        yield url, password, server_dir


def files_holding(folder: Path, secret: str) -> list[Path]:
    needle = secret.encode()
    return [p for p in folder.rglob("*") if p.is_file() and needle in p.read_bytes()]


@pytest.mark.slow
def test_an_authenticated_server_refuses_without_credentials_and_keeps_no_password(
    tmp_path: Path, auth_server: tuple[str, str, Path], monkeypatch
) -> None:
    url, password, server_dir = auth_server
    work = tmp_path / "work"
    work.mkdir()
    args = ("experiment=smoke", f"tracking.uri={url}")

    refused = run_mtrec(work, *args, "hydra.run.dir=refused", timeout=300)
    assert refused.returncode == 2, refused.stderr[-3000:]
    assert refused.stderr.startswith(f"mtrec: error: the MLflow server at {url} refused mtrec's credentials")
    assert len(refused.stderr.strip().splitlines()) == 1 and "Traceback" not in refused.stderr
    assert "epoch" not in refused.stdout  # stopped before training

    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", ADMIN)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password)
    done = run_mtrec(work, *args, "hydra.run.dir=done", timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]
    mlflow.set_tracking_uri(url)
    [run] = mlflow.search_runs(search_all_experiments=True, output_format="list")  # none from the refusal
    assert run.info.status == "FINISHED" and run.data.tags["mtrec.model_uri"].startswith("models:/")
    assert password not in repr(run.data.params) + repr(run.data.tags)
    assert (server_dir / "artifacts").is_dir() and (work / "done" / ".hydra").is_dir()
    # Nothing mtrec or the server wrote holds it: the runs' store, the artifacts (config, Hydra's
    # folder, the model), the server's user store and log, the Hydra output folders.
    assert files_holding(server_dir, password) == []
    assert files_holding(work, password) == []
