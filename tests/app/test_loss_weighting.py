"""Learned loss weights end to end: ``mtrec experiment=smoke loss.weighting=...`` in a subprocess,
its MLflow run holding each task's weight once per epoch and the final weights."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest

from tests.helpers import run_mtrec, runs_in


def test_uncertainty_weighting_logs_each_tasks_weight_every_epoch(tmp_path: Path) -> None:
    args = ("experiment=smoke", "loss.weighting=uncertainty", "trainer.epochs=2", "tracking.log_model=false")
    out = run_mtrec(tmp_path, *args, "hydra.run.dir=out")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "train/weight/rating=" in out.stdout and "train/weight/retrieval=" in out.stdout
    run = runs_in(tmp_path / "mlflow.db").iloc[0]
    assert run["tags.mlflow.runName"] == "rating=1 retrieval=1 loss.weighting=uncertainty trainer.epochs=2"
    assert run["params.loss.weighting"] == "uncertainty"
    client = mlflow.MlflowClient()
    for task in ("rating", "retrieval"):
        history = client.get_metric_history(run["run_id"], f"train/weight/{task}")
        assert [m.step for m in history] == [1, 2]
        assert all(m.value > 0 for m in history)
        # The final model's learned weight, once, beside the test metrics.
        assert run[f"metrics.weight/{task}"] == pytest.approx(history[-1].value)
    # The summed retrieval loss (~3e3 here) against an MSE of ~1: its weight falls first.
    assert run["metrics.weight/retrieval"] < 1.0
