"""Sweeps on a real Ray cluster: a head on 127.0.0.1 with 2 CPUs, `mtrec -m hydra/launcher=ray`."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest

from tests.helpers import free_port, run_mtrec, runs_in, stop_process_group, wait_until


@pytest.fixture(scope="module")
def ray_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A Ray head started like a user would (`ray start --head`), stopped with its whole process group.

    Yields the environment a driver needs to join it: its address and its token. Ray 2.60 turns token
    authentication on for a head when ~/.ray/auth_token exists (a local `ray.init()` writes one), so
    the mode and the token are set explicitly, for the head and the driver alike.
    """
    env = {
        **os.environ,
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": secrets.token_hex(32),
    }
    cwd = tmp_path_factory.mktemp("ray_head")
    # Ray's Unix sockets live under its temp dir and must stay under 107 characters: a short /tmp path.
    temp_dir = tempfile.mkdtemp(prefix="mtrec-ray-", dir="/tmp")
    port = free_port()
    head = subprocess.Popen(
        [
            sys.executable,  # `python -m ray.scripts.scripts` is the `ray` command, whatever PATH says
            "-m",
            "ray.scripts.scripts",
            "start",
            "--head",
            "--node-ip-address=127.0.0.1",
            f"--port={port}",
            "--num-cpus=2",
            f"--temp-dir={temp_dir}",
            "--include-dashboard=false",
            "--disable-usage-stats",
        ],
        cwd=cwd,
        env=env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        out, _ = head.communicate(timeout=120)
        assert head.returncode == 0, out[-3000:]
        auth = {key: env[key] for key in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN")}
        yield {**auth, "RAY_ADDRESS": f"127.0.0.1:{port}"}
    finally:
        stop_process_group(head, grace=5)
        shutil.rmtree(temp_dir, ignore_errors=True)


def ray_sweep(cwd: Path, ray_env: dict[str, str], *args: str) -> subprocess.Popen:
    """`python -m mtrec -m hydra/launcher=ray ...` in `cwd`, joining the cluster through RAY_ADDRESS."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **ray_env}
    return subprocess.Popen(
        [sys.executable, "-m", "mtrec", "-m", "hydra/launcher=ray", "experiment=smoke", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def sweep_runs(tmp_path: Path):
    runs = runs_in(tmp_path / "mlflow.db")
    return runs[runs["tags.mtrec.role"] == "sweep"], runs[runs["tags.mtrec.role"] != "sweep"]


@pytest.mark.slow
def test_ray_sweep_runs_children_of_the_sweep_and_loads_data_once_per_worker(
    tmp_path: Path, ray_env: dict[str, str]
) -> None:
    # The sweep runs where `ray start` did not: workers must find the sweep folder and store by path.
    sweep = ray_sweep(
        tmp_path,
        ray_env,
        "loss.rating_weight=0.5,1",
        "loss.retrieval_weight=0.5,1",
        "tracking.log_model=false",
        f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
    )
    out, _ = sweep.communicate(timeout=300)
    assert sweep.returncode == 0, out[-4000:]
    assert f"Using address {ray_env['RAY_ADDRESS']} set in the environment variable RAY_ADDRESS" in out

    parents, jobs = sweep_runs(tmp_path)
    assert len(parents) == 1 and parents.iloc[0]["status"] == "FINISHED"
    assert len(jobs) == 4 and set(jobs["status"]) == {"FINISHED"}
    assert set(jobs["tags.mlflow.parentRunId"]) == {parents.iloc[0]["run_id"]}
    assert set(jobs["tags.mtrec.job_num"]) == {"0", "1", "2", "3"}
    assert {"test/rmse", "test/top_10_accuracy", "train/loss"} <= {
        c.removeprefix("metrics.") for c in jobs.columns if jobs[c].notna().all()
    }
    # Each Ray worker process parsed the data once; its later jobs hit the per-process cache.
    pids = jobs["tags.mtrec.worker_pid"]
    assert str(sweep.pid) not in set(pids)  # the jobs ran in Ray workers, not in the driver
    assert pids.nunique() < len(jobs)  # 4 jobs on 2 CPUs: some worker ran several
    assert set(jobs["tags.mtrec.data_loads_in_process"]) == {"1"}
    hits = jobs.groupby("tags.mtrec.worker_pid")["tags.mtrec.data_cache_hit"].apply(sorted)
    for pid, worker_hits in hits.items():
        assert worker_hits == ["false"] + ["true"] * (len(worker_hits) - 1), pid
    assert (tmp_path / "sweep" / "summary.md").is_file()


@pytest.mark.slow
def test_an_optuna_search_runs_its_batches_on_ray(tmp_path: Path, ray_env: dict[str, str]) -> None:
    import optuna
    from optuna.trial import TrialState

    sweep = ray_sweep(
        tmp_path,
        ray_env,
        "hparams_search=loss_weights_pareto",
        "objectives=[test/rmse,test/top_10_accuracy]",
        "hydra.sweeper.n_trials=2",
        "hydra.sweeper.n_jobs=2",
        "tracking.log_model=false",
        f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
    )
    out, _ = sweep.communicate(timeout=300)
    assert sweep.returncode == 0, out[-4000:]
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"  # beside the MLflow store
    [name] = optuna.get_all_study_names(storage)
    trials = optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2
    parents, jobs = sweep_runs(tmp_path)
    assert len(jobs) == 2 and set(jobs["status"]) == {"FINISHED"}
    assert set(jobs["tags.mlflow.parentRunId"]) == {parents.iloc[0]["run_id"]}
    assert sorted(jobs["tags.mtrec.optuna_trial"].astype(int)) == [0, 1]
    assert str(sweep.pid) not in set(jobs["tags.mtrec.worker_pid"])  # trials ran in Ray workers


@pytest.mark.slow
def test_a_killed_ray_worker_leaves_a_killed_run_and_the_job_is_retried(
    tmp_path: Path, ray_env: dict[str, str]
) -> None:
    sweep = ray_sweep(
        tmp_path,
        ray_env,
        "loss.retrieval_weight=0.5,1",
        "tracking.log_model=false",
        f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
    )
    try:
        mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")

        def running_job():
            # Only once the sweep run exists: before that the driver may still be creating the store.
            if not (tmp_path / "sweep" / "mtrec_sweep.json").is_file():
                return None
            runs = mlflow.search_runs(
                experiment_names=["mtrec"],
                filter_string="tags.`mtrec.job_num` = '0' and attributes.status = 'RUNNING'",
            )
            return runs.iloc[0] if len(runs) else None

        wait_until(lambda: running_job() is not None, 240, "job 0's run", interval=0.3)
        victim = running_job()
        os.kill(int(victim["tags.mtrec.worker_pid"]), signal.SIGKILL)
        out, _ = sweep.communicate(timeout=300)
    finally:
        if sweep.poll() is None:
            sweep.kill()
    assert sweep.returncode == 0, out[-4000:]
    # Ended by whichever comes first: the worker that retries the job opens the store and finds the
    # dead process (ProcessDied, mtrec.tracking.liveness), or the sweep's end (WorkerDied).
    assert "WorkerDied" in out or "ProcessDied" in out

    parents, runs = sweep_runs(tmp_path)
    assert len(parents) == 1 and parents.iloc[0]["status"] == "FINISHED"
    assert "RUNNING" not in set(runs["status"])
    killed = runs.set_index("run_id").loc[victim["run_id"]]
    assert killed["status"] == "KILLED"
    assert f"pid {victim['tags.mtrec.worker_pid']}" in killed["tags.mtrec.error"]
    # Ray retried the dead worker's job on another worker; the other job was not disturbed.
    finished = runs[runs["status"] == "FINISHED"]
    assert sorted(finished["tags.mtrec.job_num"]) == ["0", "1"]
    assert victim["tags.mtrec.worker_pid"] not in set(finished["tags.mtrec.worker_pid"])
    summary = (tmp_path / "sweep" / "summary.md").read_text()
    assert summary.count("| FINISHED |") == 2 and "KILLED" not in summary


@pytest.mark.slow
def test_a_dead_ray_address_fails_in_one_line_before_any_run(tmp_path: Path) -> None:
    address = f"127.0.0.1:{free_port()}"  # nothing listens there: Ray itself would retry for ever
    out = run_mtrec(
        tmp_path, "-m", "hydra/launcher=ray", f"hydra.launcher.ray.init.address={address}", timeout=120
    )
    assert out.returncode == 2
    assert (
        out.stderr.strip()
        .splitlines()[-1]
        .startswith(f"mtrec: error: hydra.launcher.ray.init.address={address}: no Ray cluster answers there")
    )
    assert not (tmp_path / "mlflow.db").exists()
