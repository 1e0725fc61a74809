"""MLflow's variables choose the store for every command, and a SIGKILLed `mtrec` leaves no run
RUNNING once the next command opens the store."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest

from mtrec.app import compare, predict
from mtrec.app.sweep_callback import SweepCallback
from mtrec.tracking.liveness import Heartbeat
from tests.helpers import wait_until


def runs(db: Path, experiment: str):
    mlflow.set_tracking_uri(f"sqlite:///{db}")
    return mlflow.search_runs(experiment_names=[experiment], output_format="list")


@pytest.mark.slow
def test_a_sigkilled_run_in_the_environments_store_is_ended_killed_by_the_next_command(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    db = tmp_path / "team" / "team.db"
    db.parent.mkdir()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{db}")
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "team")
    work = tmp_path / "work"
    work.mkdir()
    training = subprocess.Popen(
        [sys.executable, "-m", "mtrec", "experiment=smoke", "trainer.epochs=5000", "tracking.log_model=0"],
        cwd=work,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        # Killed while it trains: its run is open and has logged its first epoch.
        def training_started() -> bool:
            assert training.poll() is None, training.stderr.read().decode()[-3000:] if training.stderr else ""
            found = runs(db, "team") if db.is_file() else []
            return bool(found) and "train/loss" in found[0].data.metrics

        wait_until(training_started, 240, "the run's first epoch")
        os.killpg(training.pid, signal.SIGKILL)
        training.wait(timeout=30)
    finally:
        if training.poll() is None:
            os.killpg(training.pid, signal.SIGKILL)
    assert not (work / "mlflow.db").exists()  # MLFLOW_TRACKING_URI was used, not ./mlflow.db
    [run] = runs(db, "team")
    assert run.info.status == "RUNNING"  # nothing could close it
    assert run.data.tags["mtrec.pid"] == str(training.pid)

    # The next command, any of them, opens the store and ends the dead run; reports show it failed.
    monkeypatch.chdir(work)
    assert compare.main([]) == 0  # MLFLOW_EXPERIMENT_NAME's jobs, from MLFLOW_TRACKING_URI's store
    out = capsys.readouterr()
    assert "rating=1 retrieval=1" in out.out
    [run] = runs(db, "team")
    assert run.info.status == "KILLED"
    assert run.data.tags["mtrec.error"].startswith(f"ProcessDied: the run's process (pid {training.pid} on ")
    assert not (work / "mlflow.db").exists()
    # mtrec-predict reads the same store: the killed run has no model, so nothing qualifies.
    assert predict.predict_main(["--experiment", "team", "--user", "1", "--movie", "x"]) == 1
    assert "no finished run with a logged model" in capsys.readouterr().err


def test_the_sweep_callback_pickles_into_workers_without_its_heartbeat(tmp_path: Path) -> None:
    """joblib's loky and Ray pickle Hydra's callbacks into their workers; a thread cannot go."""
    callback = SweepCallback()
    callback.parent_run_id = "parent"
    callback.heartbeat = Heartbeat("parent")
    copy = pickle.loads(pickle.dumps(callback))
    assert copy.parent_run_id == "parent" and copy.heartbeat is None
    assert callback.heartbeat is not None  # the driver keeps beating
