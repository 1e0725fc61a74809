"""A search whose study lives on PostgreSQL, beside a team's MLflow database on the same server:
real `mtrec` processes, a throw-away PostgreSQL cluster (tests/conftest.py's ``postgres_uri``)."""

from __future__ import annotations

import subprocess
import urllib.parse
from pathlib import Path

import mlflow
import optuna
import pytest
from optuna.trial import TrialState

from tests.app.test_optuna_search import SEARCH, trained
from tests.helpers import postgres_bin, run_mtrec


@pytest.mark.slow
def test_a_study_on_postgresql_resumes_and_mlflows_own_database_is_refused(
    postgres_uri: str, tmp_path: Path
) -> None:
    server = urllib.parse.urlsplit(postgres_uri)
    createdb = [postgres_bin("createdb"), "-h", str(server.hostname), "-p", str(server.port), "-U", "mtrec"]
    subprocess.run([*createdb, "optuna"], check=True, capture_output=True)
    storage = postgres_uri.rsplit("/", 1)[0] + "/optuna"
    args = (*SEARCH, f"tracking.uri={postgres_uri}", f"hydra.sweeper.storage={storage}")

    first = run_mtrec(tmp_path, *args, "hydra.sweeper.n_trials=2", "hydra.sweep.dir=s1")
    assert first.returncode == 0, first.stderr[-3000:]
    again = run_mtrec(tmp_path, *args, "hydra.sweeper.n_trials=3", "hydra.sweep.dir=s2")
    assert again.returncode == 0, again.stderr[-3000:]

    [name] = optuna.get_all_study_names(storage)
    trials = optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3
    assert len({t.params["loss.rating_weight"] for t in trials}) == 3
    assert not (tmp_path / "optuna.db").exists()  # nothing fell back to a local file

    mlflow.set_tracking_uri(postgres_uri)
    runs = mlflow.search_runs(experiment_names=["mtrec"])
    ran = trained(runs)
    assert sorted(ran["tags.mtrec.optuna_trial"].astype(int)) == [0, 1, 2]  # each trial trained once
    parent = runs[(runs["tags.mtrec.role"] == "sweep") & (runs["tags.mtrec.sweep_dir"] == "s2")]["run_id"]
    children = runs[runs["tags.mlflow.parentRunId"] == parent.iloc[0]]
    assert len(children) == 3 and children["tags.mtrec.resumed_from"].notna().sum() == 2

    # MLflow's own database cannot hold the study too (both keep an alembic_version table).
    shared = run_mtrec(
        tmp_path, *SEARCH, f"tracking.uri={postgres_uri}", f"hydra.sweeper.storage={postgres_uri}"
    )
    assert shared.returncode == 2, shared.stderr[-3000:]
    errors = [line for line in shared.stderr.splitlines() if line.startswith("mtrec: error:")]
    assert len(errors) == 1 and "is an MLflow store's database" in errors[0], errors
    after = mlflow.search_runs(experiment_names=["mtrec"])
    assert len(trained(after)) == len(ran) and "RUNNING" not in set(after["status"])
