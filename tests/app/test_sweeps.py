"""Hydra multiruns as users start them: real subprocesses, real SQLite stores, real ml-100k."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from tests.helpers import run_mtrec, runs_in


def sweep_state(folder: Path) -> dict:
    return json.loads((folder / "mtrec_sweep.json").read_text())


@pytest.mark.slow
def test_multirun_is_one_parent_run_with_children_and_a_report(tmp_path: Path) -> None:
    out = run_mtrec(
        tmp_path,
        "-m",
        "experiment=smoke",
        "loss.rating_weight=0.5,1",
        "loss.retrieval_weight=0,2",
        "tracking.log_model=false",
        "hydra.sweep.dir=sweep",
    )
    assert out.returncode == 0, out.stderr[-3000:]
    runs = runs_in(tmp_path / "mlflow.db")
    parent = runs[runs["tags.mtrec.role"] == "sweep"]
    jobs = runs[runs["tags.mtrec.role"] != "sweep"]
    assert len(parent) == 1 and len(jobs) == 4
    parent = parent.iloc[0]
    state = sweep_state(tmp_path / "sweep")
    assert parent["run_id"] == state["parent_run_id"] and parent["status"] == "FINISHED"
    assert parent["tags.mtrec.sweep_id"] == state["sweep_id"]
    assert parent["tags.mtrec.sweep_overrides"] == (
        "experiment=smoke loss.rating_weight=0.5,1 loss.retrieval_weight=0,2 tracking.log_model=false"
    )
    assert parent["tags.mtrec.sweep_dir"] == "sweep"
    assert set(jobs["tags.mlflow.parentRunId"]) == {parent["run_id"]}
    assert set(jobs["tags.mtrec.sweep_id"]) == {state["sweep_id"]} and set(jobs["status"]) == {"FINISHED"}
    weights = set(zip(jobs["params.loss.rating_weight"], jobs["params.loss.retrieval_weight"]))
    assert weights == {("0.5", "0.0"), ("0.5", "2.0"), ("1.0", "0.0"), ("1.0", "2.0")}
    assert set(jobs["tags.mlflow.runName"]) == {
        "rating=0.5 retrieval=0",
        "rating=0.5 retrieval=2",
        "rating=1 retrieval=0",
        "rating=1 retrieval=2",
    }
    assert set(jobs["tags.mtrec.job_num"]) == {"0", "1", "2", "3"}
    assert jobs["metrics.baseline/popularity/top_10_accuracy"].nunique() == 1  # one split, one baseline
    # The split and its baselines were begun as the multirun started (mtrec.app.prefetch): the
    # first job takes them, and the data is read once for the four jobs.
    by_job = jobs.set_index("tags.mtrec.job_num").sort_index()
    assert list(by_job["tags.mtrec.data_prefetched"]) == ["true", "false", "false", "false"]
    assert list(by_job["tags.mtrec.data_cache_hit"]) == ["false", "true", "true", "true"]
    assert set(by_job["tags.mtrec.data_loads_in_process"]) == {"1"}
    for job in range(4):
        assert (tmp_path / "sweep" / str(job) / "metrics.json").is_file()

    files = {"summary.csv", "summary.md", "pareto.png", "curves.png"}
    assert files <= {p.name for p in (tmp_path / "sweep").iterdir()}
    assert files <= {a.path for a in mlflow.MlflowClient().list_artifacts(parent["run_id"])}
    summary = (tmp_path / "sweep" / "summary.md").read_text()
    assert summary in out.stdout  # the same report on the console
    assert (
        "| baseline: popularity |" in summary
        and "Pareto set (min test/rmse / max test/top_10_accuracy):" in summary
    )
    table = pd.read_csv(tmp_path / "sweep" / "summary.csv")
    baselines = {"popularity", "bias", "global_mean", "ease", "knn"}  # a row each, after the 4 jobs
    assert set(table["job"][4:].str.removeprefix("baseline: ")) == baselines and len(table) == 4 + len(
        baselines
    )
    assert (table["pareto"] == "yes").sum() >= 1

    compare = subprocess.run(
        [
            sys.executable,
            "-m",
            "mtrec.app.compare",
            "--sweep",
            state["sweep_id"],
            "--pareto",
            "test/rmse:min,test/top_10_accuracy:max",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert compare.returncode == 0, compare.stderr
    assert compare.stdout == summary
    unknown = subprocess.run(
        [sys.executable, "-m", "mtrec.app.compare", "--sweep", "no-such-sweep"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert unknown.returncode == 2
    assert (
        unknown.stderr.strip()
        == "mtrec-compare: error: unknown sweep 'no-such-sweep': no sweep run has this id or sweep id"
    )


@pytest.mark.slow
def test_resume_runs_only_missing_jobs_and_a_failing_job_does_not_sink_the_sweep(tmp_path: Path) -> None:
    first = run_mtrec(
        tmp_path,
        "-m",
        "experiment=smoke",
        "loss.retrieval_weight=1,2",
        "tracking.log_model=false",
        "hydra.sweep.dir=s1",
    )
    assert first.returncode == 0, first.stderr[-3000:]
    second = run_mtrec(
        tmp_path,
        "-m",
        "experiment=smoke",
        "loss.retrieval_weight=1,2,3",
        "tracking.log_model=false",
        "hydra.sweep.dir=s2",
    )
    assert second.returncode == 0, second.stderr[-3000:]
    assert second.stdout.count("skipped, already FINISHED") == 2
    runs = runs_in(tmp_path / "mlflow.db")
    children = runs[runs["tags.mlflow.parentRunId"] == sweep_state(tmp_path / "s2")["parent_run_id"]]
    assert len(children) == 3 and set(children["status"]) == {"FINISHED"}
    resumed = children[children["tags.mtrec.resumed_from"].notna()]
    assert set(resumed["params.loss.retrieval_weight"]) == {"1.0", "2.0"}
    assert set(resumed["tags.mtrec.resumed_from"]) <= set(runs["run_id"])
    trained = runs[(runs["tags.mtrec.role"] != "sweep") & runs["tags.mtrec.resumed_from"].isna()]
    assert len(trained) == 3  # 2 in the first sweep, only the missing one in the second
    assert (
        "rating=1 retrieval=1" in (tmp_path / "s2" / "summary.md").read_text()
    )  # the report covers all jobs

    forced = run_mtrec(
        tmp_path,
        "-m",
        "experiment=smoke",
        "loss.retrieval_weight=1",
        "sweep.resume=false",
        "tracking.log_model=false",
        "hydra.sweep.dir=s3",
    )
    assert forced.returncode == 0 and "skipped" not in forced.stdout

    failing = run_mtrec(
        tmp_path,
        "-m",
        "experiment=smoke",
        "optimizer=sgd",
        "optimizer.lr=0.05,1e12",
        "tracking.log_model=false",
        "hydra.sweep.dir=s4",
    )
    assert failing.returncode != 0
    assert "train/rating_loss became" in failing.stdout + failing.stderr
    runs = runs_in(tmp_path / "mlflow.db")
    state = sweep_state(tmp_path / "s4")
    jobs = runs[runs["tags.mlflow.parentRunId"] == state["parent_run_id"]].set_index("params.optimizer.lr")
    assert jobs.loc["0.05", "status"] == "FINISHED" and jobs.loc["1000000000000.0", "status"] == "FAILED"
    assert "NonFiniteLossError" in jobs.loc["1000000000000.0", "tags.mtrec.error"]
    assert runs.set_index("run_id").loc[state["parent_run_id"], "status"] == "FAILED"
    summary = (tmp_path / "s4" / "summary.md").read_text()
    assert (
        "Failed jobs:\n- rating=1 retrieval=1 optimizer=sgd optimizer.lr=1000000000000.0 "
        "(FAILED: NonFiniteLossError" in summary
    )
    assert "RUNNING" not in set(runs["status"])


@pytest.mark.slow
def test_tutorial_reproduces_on_real_ml_100k(tmp_path: Path, ml_100k: Path) -> None:
    out = run_mtrec(
        tmp_path,
        "experiment=tutorial",
        f"dataset.path={ml_100k}",
        "tracking.log_model=false",
        "hydra.sweep.dir=sweep",
    )
    assert out.returncode == 0, out.stderr[-3000:]
    runs = runs_in(tmp_path / "mlflow.db")
    runs = runs[runs["tags.mtrec.role"] != "sweep"].set_index("tags.mlflow.runName")
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
    # The baselines the sweeps issue measured on this split: popularity 0.295, global mean 1.133.
    assert joint["metrics.baseline/popularity/top_100_accuracy"] == pytest.approx(0.295, abs=0.01)
    assert joint["metrics.baseline/global_mean/rmse"] == pytest.approx(1.133, abs=0.01)
    assert joint["metrics.baseline/bias/rmse"] < joint["metrics.baseline/global_mean/rmse"]
