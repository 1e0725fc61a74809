"""MLflow run lifecycle: every way out of a run closes it with the right status."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest
from mlflow.exceptions import MlflowException

from mtrec.tracking import connect, store, sweeps
from mtrec.tracking import runs as tracking


def experiment_id(tmp_path: Path) -> str:
    return connect.use_experiment(f"sqlite:///{tmp_path / 'mlflow.db'}", "lifecycle").experiment_id


def only_run(tmp_path: Path):
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["lifecycle"])
    assert len(runs) == 1
    return runs.iloc[0]


def test_finished_run_has_params_tags_and_epoch_metrics(tmp_path: Path) -> None:
    params = tracking.flatten({"loss": {"rating_weight": 0.5}, "trainer": {"top_k": [1, 5]}})
    assert params == {"loss.rating_weight": "0.5", "trainer.top_k": "[1, 5]"}
    with tracking.start_run(experiment_id(tmp_path), run_name="r", params=params, tags={"a": "b"}) as run:
        run.log_metrics({"train/loss": 3.0}, 1)
        run.log_metrics({"train/loss": 2.0}, 2)
    row = only_run(tmp_path)
    assert row["status"] == "FINISHED" and row["tags.a"] == "b" and row["params.trainer.top_k"] == "[1, 5]"
    history = mlflow.MlflowClient().get_metric_history(row["run_id"], "train/loss")
    assert [(m.step, m.value) for m in history] == [(1, 3.0), (2, 2.0)]
    assert mlflow.active_run() is None


def test_exception_marks_the_run_failed_with_the_error(tmp_path: Path) -> None:
    with (
        pytest.raises(RuntimeError),
        tracking.start_run(experiment_id(tmp_path), run_name="r", params={}, tags={}),
    ):
        raise RuntimeError("boom")
    row = only_run(tmp_path)
    assert row["status"] == "FAILED" and row["tags.mtrec.error"] == "RuntimeError: boom"
    assert mlflow.active_run() is None


def test_ctrl_c_marks_the_run_killed(tmp_path: Path) -> None:
    with (
        pytest.raises(KeyboardInterrupt),
        tracking.start_run(experiment_id(tmp_path), run_name="r", params={}, tags={}),
    ):
        raise KeyboardInterrupt
    assert only_run(tmp_path)["status"] == "KILLED"


def test_disabled_tracking_writes_nothing(tmp_path: Path) -> None:
    # What a job logs to when tracking.enabled=false: no run, no store.
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    run = tracking.RunLogger(None)
    run.log_metrics({"x": 1.0})
    run.set_tags({"a": "b"})
    assert run.run_id is None and not (tmp_path / "mlflow.db").exists()


def test_run_name_shows_the_weights() -> None:
    assert tracking.default_run_name({"rating": 0.5, "retrieval": 1.0}) == "rating=0.5 retrieval=1"


def test_a_locked_store_is_retried_and_other_errors_are_not(monkeypatch) -> None:
    monkeypatch.setattr(store.time, "sleep", lambda seconds: None)
    calls = []

    def locked_twice() -> str:
        calls.append(1)
        if len(calls) <= 2:
            raise MlflowException("(sqlite3.OperationalError) database is locked")
        return "done"

    assert store.retry_locked(locked_twice) == "done" and len(calls) == 3

    def broken() -> None:
        calls.append(1)
        raise MlflowException("(sqlite3.OperationalError) no such table: runs")

    calls.clear()
    with pytest.raises(MlflowException, match="no such table"):
        store.retry_locked(broken)
    assert len(calls) == 1
    monkeypatch.setattr(store, "LOCKED_STORE_PATIENCE_SECONDS", 0.0)
    calls.clear()
    with pytest.raises(MlflowException, match="database is locked"):
        store.retry_locked(locked_twice)
    assert len(calls) == 1


def test_orphaned_children_of_a_sweep_are_closed_killed(tmp_path: Path) -> None:
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    client = mlflow.MlflowClient()
    experiment = client.create_experiment("orphans")
    parent = client.create_run(experiment).info.run_id
    child = {"mlflow.parentRunId": parent, "mtrec.worker_pid": "4242", "mtrec.job_num": "0"}
    orphan = client.create_run(experiment, tags=child).info.run_id
    done = client.create_run(experiment, tags={**child, "mtrec.job_num": "1"}).info.run_id
    client.set_terminated(done, "FINISHED")
    assert sweeps.close_orphaned_children(parent) == [orphan]
    assert client.get_run(orphan).info.status == "KILLED"
    assert "pid 4242" in client.get_run(orphan).data.tags["mtrec.error"]
    assert client.get_run(done).info.status == "FINISHED"
    assert client.get_run(parent).info.status == "RUNNING"  # the parent is the callback's to close
