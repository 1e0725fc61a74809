"""Parallel sweeps (Hydra's joblib launcher, 2 workers) into shared stores, losing nothing.

One store is a real `mlflow server` on a real PostgreSQL with a shared artifact folder, the other
the embedded SQLite file, locked by another process for longer than MLflow waits for a lock.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest

from tests.helpers import run_mtrec, serve_mlflow, wait_until

SWEEP = (
    "-m",
    "hydra/launcher=joblib",
    "hydra.launcher.n_jobs=2",
    "experiment=smoke",
    "loss.rating_weight=0.5,1",
    "loss.retrieval_weight=0.5,1,2",
    "tracking.log_model=false",
    "hydra.sweep.dir=sweep",
)


@pytest.fixture
def mlflow_server(postgres_uri: str, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`mlflow server` on PostgreSQL, serving artifacts from a shared folder (README's command)."""
    artifacts = tmp_path / "shared-artifacts"
    options = [
        "--backend-store-uri",
        postgres_uri,
        "--artifacts-destination",
        str(artifacts),
        "--workers",
        "2",
    ]
    with serve_mlflow(options, tmp_path / "mlflow-server.log", 120) as url:
        yield url, artifacts


def assert_every_run_has_all_its_metrics(sweep_dir: Path, num_jobs: int) -> None:
    """Each job's MLflow run holds exactly what the job wrote to its metrics.json, epochs included."""
    state = json.loads((sweep_dir / "mtrec_sweep.json").read_text())
    client = mlflow.MlflowClient()
    parent = client.get_run(state["parent_run_id"])
    assert parent.info.status == "FINISHED"
    jobs = mlflow.search_runs(
        experiment_ids=[parent.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{state['parent_run_id']}'",
        output_format="list",
    )
    assert len(jobs) == num_jobs
    assert sorted(run.data.tags["mtrec.job_num"] for run in jobs) == [str(i) for i in range(num_jobs)]
    for run in jobs:
        assert run.info.status == "FINISHED"
        written = json.loads((sweep_dir / run.data.tags["mtrec.job_num"] / "metrics.json").read_text())
        expected = {k: v for k, v in written["test"].items() if not k.startswith("time/")}
        logged = {k: v for k, v in run.data.metrics.items() if k in expected}
        assert logged == pytest.approx(expected, rel=1e-6)
        for key in written["train_history"][0]:
            history = [m.value for m in client.get_metric_history(run.info.run_id, key)]
            assert history == pytest.approx([epoch[key] for epoch in written["train_history"]], rel=1e-6)


@pytest.mark.slow
def test_parallel_sweep_into_a_postgres_backed_mlflow_server(
    tmp_path: Path, mlflow_server: tuple[str, Path]
) -> None:
    url, artifacts = mlflow_server
    out = run_mtrec(tmp_path, *SWEEP, f"tracking.uri={url}", timeout=400)
    assert out.returncode == 0, out.stderr[-4000:]
    assert not (tmp_path / "mlflow.db").exists()  # nothing went to a local store
    mlflow.set_tracking_uri(url)
    assert_every_run_has_all_its_metrics(tmp_path / "sweep", num_jobs=6)
    # Artifacts went through the server into its shared folder: each job's config, the sweep report.
    assert len(list(artifacts.rglob("artifacts/config.yaml"))) == 6
    assert len(list(artifacts.rglob("artifacts/summary.md"))) == 1


@pytest.mark.slow
def test_parallel_sweep_into_sqlite_waits_out_a_locked_store(tmp_path: Path) -> None:
    db = tmp_path / "mlflow.db"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    sweep = subprocess.Popen(
        [sys.executable, "-m", "mtrec", *SWEEP],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(sweep.stdout), daemon=True)
    reader.start()
    retrying = "MLflow store locked during"
    try:
        # Once the sweep run exists (the store is created), another process (think `mlflow ui`
        # scanning a big store) takes the write lock and keeps it until a job has waited out
        # MLflow's own 20 s busy timeout and says it is retrying.
        wait_until((tmp_path / "sweep" / "mtrec_sweep.json").is_file, 240, "the sweep run")
        lock = sqlite3.connect(db, timeout=30, isolation_level=None)
        lock.execute("BEGIN EXCLUSIVE")
        try:
            wait_until(lambda: any(retrying in line for line in list(lines)), 180, "a job retrying")
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        sweep.wait(timeout=400)
    finally:
        if sweep.poll() is None:
            sweep.kill()
    reader.join(timeout=10)
    out = "".join(lines)
    assert sweep.returncode == 0, out[-4000:]
    assert retrying in out
    mlflow.set_tracking_uri(f"sqlite:///{db}")
    assert_every_run_has_all_its_metrics(tmp_path / "sweep", num_jobs=6)
