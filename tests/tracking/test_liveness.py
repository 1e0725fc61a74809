"""Where runs go (explicit, MLflow's variables, the default), and no run left RUNNING by a dead
process: its process gone on this host, or its heartbeat lost on another."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest

from mtrec.tracking import connect, liveness, store
from mtrec.tracking import runs as tracking
from mtrec.tracking.store import StoreError, Target, redact, resolve_target


def test_an_explicit_value_then_mlflows_variables_then_the_default(monkeypatch) -> None:
    assert resolve_target() == Target("sqlite:///mlflow.db", "mtrec")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://team:5000")
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "team")
    assert resolve_target() == Target("http://team:5000", "team")
    assert resolve_target(None, "") == Target("http://team:5000", "team")  # empty = not given
    assert resolve_target("sqlite:///mine.db", "mine") == Target("sqlite:///mine.db", "mine")


def test_a_password_in_the_uri_is_refused_and_never_repeated(monkeypatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://alice:s3cret@team:5000")
    with pytest.raises(StoreError, match="MLFLOW_TRACKING_USERNAME") as e:
        resolve_target()
    assert "s3cret" not in str(e.value) and "alice:***@team:5000" in str(e.value)
    assert redact("http://bob@team") == "http://bob@team"


def test_a_corrupt_store_and_a_dead_server_are_one_line_errors(tmp_path: Path, monkeypatch) -> None:
    # (mtrec-compare's main sets them for its own process; an in-process test of it may have run.)
    for key in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT"):
        monkeypatch.delenv(key, raising=False)
    corrupt = tmp_path / "mlflow.db"
    corrupt.write_bytes(b"this is not an SQLite database, it only has the name of one" * 20)
    with pytest.raises(StoreError) as e:
        connect.use_experiment(f"sqlite:///{corrupt}", "mtrec")
    assert str(e.value).startswith(f"cannot read the MLflow store sqlite:///{corrupt}: ")
    assert "\n" not in str(e.value)
    started = time.monotonic()
    with pytest.raises(StoreError, match=r"^cannot reach the MLflow store at http://127\.0\.0\.1:9: "):
        connect.open_store("http://127.0.0.1:9")
    assert time.monotonic() - started < 30  # no minutes of MLflow's retries
    assert "MLFLOW_HTTP_REQUEST_MAX_RETRIES" not in os.environ  # the probe's settings are undone


def test_a_server_that_never_answers_is_an_error_after_the_probes_timeout(monkeypatch) -> None:
    monkeypatch.setattr(store, "PROBE_TIMEOUT_SECONDS", 2)
    with socket.socket() as silent:  # accepts connections, never answers a request
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        with pytest.raises(StoreError, match=rf"^cannot reach the MLflow store at {url}: .*[Tt]imed? ?out"):
            connect.open_store(url)
    assert time.monotonic() - started < 20


def run_with_tags(uri: str, **tags: str) -> str:
    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient()
    found = client.get_experiment_by_name("runs")
    experiment = found or client.get_experiment(client.create_experiment("runs"))
    return client.create_run(experiment.experiment_id, tags=tags).info.run_id


def test_runs_whose_process_is_gone_are_ended_killed_and_live_ones_kept(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    connect.open_store(uri)
    host = socket.gethostname()
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    dead_pid = gone.stdout.decode().strip()
    me = liveness.process_tags()
    assert me[liveness.HOST_TAG] == host and me[liveness.PID_TAG] == str(os.getpid())
    assert abs(float(me[liveness.STARTED_TAG]) - time.time()) < 24 * 3600
    now = time.time()
    alive = run_with_tags(uri, **me)
    exited = run_with_tags(uri, **{**me, liveness.PID_TAG: dead_pid})
    # This process's id, but a start an hour earlier: the id was reused, the run's process is gone.
    reused = run_with_tags(uri, **{**me, liveness.STARTED_TAG: f"{now - 3600:.2f}"})
    other = {liveness.HOST_TAG: "elsewhere", liveness.PID_TAG: "1"}
    quiet = run_with_tags(uri, **other, **{liveness.HEARTBEAT_TAG: f"{now - 1000:.0f}"})
    beating = run_with_tags(uri, **other, **{liveness.HEARTBEAT_TAG: f"{now - 60:.0f}"})
    foreign = run_with_tags(uri)  # not mtrec's: no tags to judge it by

    ended = liveness.end_dead_runs(now=now)
    assert sorted(ended) == sorted([exited, reused, quiet])
    client = mlflow.MlflowClient()
    status = {run_id: client.get_run(run_id).info.status for run_id in (alive, beating, foreign, *ended)}
    assert [status[r] for r in (alive, beating, foreign)] == ["RUNNING"] * 3
    assert all(status[r] == "KILLED" for r in ended)
    errors = {run_id: client.get_run(run_id).data.tags["mtrec.error"] for run_id in ended}
    assert errors[exited].startswith(f"ProcessDied: the run's process (pid {dead_pid} on {host}) is gone")
    assert errors[quiet].startswith(
        "HeartbeatLost: no heartbeat from the run's process (pid 1 on elsewhere) for 1000 s (timeout 900 s)"
    )
    assert client.get_run(quiet).info.end_time == int(f"{now - 1000:.0f}") * 1000  # its last heartbeat


def test_an_open_run_records_where_it_lives_and_keeps_a_heartbeat(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(liveness, "HEARTBEAT_INTERVAL_SECONDS", 0.2)
    experiment = connect.use_experiment(f"sqlite:///{tmp_path / 'mlflow.db'}", "beats").experiment_id
    with tracking.start_run(experiment, run_name="r", params={}, tags={}) as run:
        first = mlflow.get_run(run.run_id).data.tags[liveness.HEARTBEAT_TAG]
        time.sleep(1.5)
        tags = mlflow.get_run(run.run_id).data.tags
        assert tags[liveness.HEARTBEAT_TAG] > first  # rewritten by the thread while the run is open
        assert tags[liveness.HOST_TAG] == socket.gethostname() and tags[liveness.PID_TAG] == str(os.getpid())
        assert liveness.end_dead_runs() == []  # this process is alive: its run stays RUNNING
    assert not [t for t in liveness.threading.enumerate() if t.name.startswith("mtrec-heartbeat")]
    assert mlflow.get_run(run.run_id).info.status == "FINISHED"
