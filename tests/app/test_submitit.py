"""Search trials through hydra-submitit-launcher's local executor (`hydra/launcher=submitit_local`),
as on a Slurm cluster but in local processes: real `mtrec`, a batch of two trials at once."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from mtrec.tracking.liveness import PID_TAG
from tests.app.test_optuna_search import SEARCH, trained
from tests.helpers import run_mtrec, runs_in


@pytest.mark.slow
def test_a_batch_of_trials_runs_in_submitit_processes(tmp_path: Path) -> None:
    out = run_mtrec(
        tmp_path,
        *SEARCH,
        "hydra.sweeper.n_trials=2",
        "hydra.sweeper.n_jobs=2",
        "hydra/launcher=submitit_local",
        "hydra.launcher.timeout_min=10",
        "hydra.launcher.cpus_per_task=1",
        "hydra.sweep.dir=s",
    )
    assert out.returncode == 0, out.stderr[-3000:]
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    [name] = optuna.get_all_study_names(storage)
    trials = optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2

    runs = runs_in(tmp_path / "mlflow.db")
    jobs = trained(runs)
    parent = runs[runs["tags.mtrec.role"] == "sweep"].iloc[0]
    assert set(jobs["status"]) == {"FINISHED"} and len(jobs) == 2
    assert set(jobs["tags.mlflow.parentRunId"]) == {parent["run_id"]}
    # Each trial ran in a process of submitit's own, not in the sweeper's.
    pids = set(jobs[f"tags.{PID_TAG}"])
    assert len(pids) == 2 and parent[f"tags.{PID_TAG}"] not in pids
    assert len([p for p in (tmp_path / "s" / ".submitit").iterdir() if p.name.isdigit()]) == 2
    assert (tmp_path / "s" / "summary.md").read_text().count("| rating=") == 2
