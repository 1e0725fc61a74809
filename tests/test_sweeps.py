"""Hydra multiruns as users start them: real subprocesses, real SQLite stores, real ml-100k."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_mtrec, runs_in


@pytest.mark.slow
def test_two_by_two_multirun_logs_four_runs(tmp_path: Path) -> None:
    out = run_mtrec(
        tmp_path,
        "-m",
        "experiment=smoke",
        "loss.rating_weight=0.5,1",
        "loss.retrieval_weight=0,2",
        "hydra.sweep.dir=sweep",
    )
    assert out.returncode == 0, out.stderr[-3000:]
    runs = runs_in(tmp_path / "mlflow.db")
    assert len(runs) == 4 and set(runs["status"]) == {"FINISHED"}
    weights = set(zip(runs["params.loss.rating_weight"], runs["params.loss.retrieval_weight"]))
    assert weights == {("0.5", "0.0"), ("0.5", "2.0"), ("1.0", "0.0"), ("1.0", "2.0")}
    assert set(runs["tags.mlflow.runName"]) == {
        "rating=0.5 retrieval=0",
        "rating=0.5 retrieval=2",
        "rating=1 retrieval=0",
        "rating=1 retrieval=2",
    }
    assert set(runs["tags.mtrec.job_num"]) == {"0", "1", "2", "3"}
    assert set(runs["tags.mtrec.sweep_dir"]) == {"sweep"}
    for job in range(4):
        assert (tmp_path / "sweep" / str(job) / "metrics.json").is_file()


@pytest.mark.slow
def test_tutorial_reproduces_on_real_ml_100k(tmp_path: Path, ml_100k: Path) -> None:
    out = run_mtrec(tmp_path, "experiment=tutorial", f"dataset.path={ml_100k}", "hydra.sweep.dir=sweep")
    assert out.returncode == 0, out.stderr[-3000:]
    runs = runs_in(tmp_path / "mlflow.db").set_index("tags.mlflow.runName")
    assert len(runs) == 3 and set(runs["status"]) == {"FINISHED"}
    rating_only = runs.loc["rating=1 retrieval=0"]
    retrieval_only = runs.loc["rating=0 retrieval=1"]
    joint = runs.loc["rating=1 retrieval=1"]
    # The tolerances of the core issue, around what the tutorial's own code gives on this data.
    assert rating_only["metrics.test/rmse"] == pytest.approx(1.12, abs=0.06)
    assert rating_only["metrics.test/top_100_accuracy"] == pytest.approx(0.06, abs=0.03)
    assert retrieval_only["metrics.test/top_100_accuracy"] == pytest.approx(0.239, abs=0.02)
    assert joint["metrics.test/top_100_accuracy"] == pytest.approx(0.238, abs=0.02)
    assert 1.0 <= joint["metrics.test/rmse"] <= 1.2
    assert retrieval_only["metrics.test/rmse"] > 2.0  # Its rating head was never trained.
