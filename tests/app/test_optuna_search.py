"""hydra/sweeper=optuna end to end: real `mtrec` processes on the synthetic data, one SQLite study."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState

from tests.helpers import repo_env, run_mtrec, runs_in, stop_process_group, wait_until

SEARCH = (
    "hparams_search=loss_weights_pareto",
    "experiment=smoke",
    "tracking.log_model=false",
    "objectives=[test/rmse,test/top_10_accuracy]",
)


def study_trials(folder: Path) -> list[optuna.trial.FrozenTrial]:
    """The trials of the one study in ``folder``'s default storage (``optuna.db``)."""
    storage = f"sqlite:///{folder / 'optuna.db'}"
    (name,) = optuna.get_all_study_names(storage)
    return optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)


def completed(folder: Path) -> int:
    if not (folder / "optuna.db").is_file():
        return 0
    try:
        return sum(t.state == TrialState.COMPLETE for t in study_trials(folder))
    except Exception:  # the study is being created
        return 0


def start(folder: Path, *args: str) -> subprocess.Popen:
    """`python -m mtrec ARGS` in its own process group, as a user starts it."""
    log = (folder / f"{args[-1].replace('=', '_').replace('.', '_')}.log").open("w")
    return subprocess.Popen(
        [sys.executable, "-m", "mtrec", *args],
        cwd=folder,
        env={**repo_env(), "PYTHONUNBUFFERED": "1"},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def trained(runs: pd.DataFrame) -> pd.DataFrame:
    """The job runs that trained (not a sweep's parent, not a resumed copy)."""
    copies = runs.get("tags.mtrec.resumed_from", pd.Series(None, index=runs.index)).notna()
    return runs[(runs["tags.mtrec.role"] != "sweep") & ~copies]


@pytest.mark.slow
def test_a_killed_search_resumes_and_no_trial_trains_twice(tmp_path: Path) -> None:
    first = start(tmp_path, *SEARCH, "hydra.sweeper.n_trials=6", "hydra.sweep.dir=s1")
    try:
        wait_until(lambda: completed(tmp_path) >= 3, timeout=300, what="3 completed trials")
    finally:
        stop_process_group(first, grace=0, sig=signal.SIGKILL)
    assert first.returncode == -signal.SIGKILL
    done_before = completed(tmp_path)

    again = run_mtrec(tmp_path, *SEARCH, "hydra.sweeper.n_trials=6", "hydra.sweep.dir=s2")
    assert again.returncode == 0, again.stderr[-3000:]
    trials = study_trials(tmp_path)
    complete = {t.number for t in trials if t.state == TrialState.COMPLETE}
    assert len(complete) == 6
    # A trial left RUNNING by the killed process is FAIL now; its budget was spent again.
    assert {t.state for t in trials if t.number not in complete} <= {TrialState.FAIL}
    assert "finished earlier; recorded under this sweep" in again.stdout

    runs = runs_in(tmp_path / "mlflow.db")
    ran = trained(runs)
    ran = ran[ran["status"] == "FINISHED"]
    numbers = ran["tags.mtrec.optuna_trial"].astype(int)
    # Every completed trial trained exactly once (a killed trial's run is KILLED, not FINISHED).
    assert sorted(n for n in numbers if n in complete) == sorted(complete)
    weights = ran["params.loss.rating_weight"].astype(float)
    assert weights.between(0.001, 10).all() and weights.nunique() == len(ran)

    parent = runs[(runs["tags.mtrec.role"] == "sweep") & (runs["tags.mtrec.sweep_dir"] == "s2")]["run_id"]
    children = runs[runs["tags.mlflow.parentRunId"] == parent.iloc[0]]
    assert len(children) == 6 and set(children["status"]) == {"FINISHED"}
    assert children["tags.mtrec.resumed_from"].notna().sum() == done_before  # copies, not trained again
    assert set(children["tags.mtrec.optuna_trial"].astype(int)) == complete
    summary = (tmp_path / "s2" / "summary.md").read_text()
    assert summary.count("| rating=") == 6 and "Pareto set" in summary
    assert (tmp_path / "s2" / "optimization_results.yaml").is_file()


@pytest.mark.slow
def test_two_commands_share_one_study(tmp_path: Path) -> None:
    # No fixed seed: two samplers with one seed would propose the same first points.
    shared = (*SEARCH, "hydra.sweeper.n_trials=4", "hydra.sweeper.sampler.seed=null")
    first = start(tmp_path, *shared, "hydra.sweep.dir=a")
    try:
        wait_until(lambda: (tmp_path / "optuna.db").is_file(), timeout=120, what="the study")
        second = start(tmp_path, *shared, "hydra.sweep.dir=b")
        try:
            assert second.wait(timeout=400) == 0, (tmp_path / "hydra_sweep_dir_b.log").read_text()[-3000:]
        finally:
            stop_process_group(second)
        assert first.wait(timeout=400) == 0, (tmp_path / "hydra_sweep_dir_a.log").read_text()[-3000:]
    finally:
        stop_process_group(first)
    trials = study_trials(tmp_path)
    complete = [t.number for t in trials if t.state == TrialState.COMPLETE]
    # n_trials counts over both commands; each asks only for what is neither done nor running, so
    # at most one batch (n_jobs=1) more when both look at the same moment.
    assert 4 <= len(complete) <= 5 and len(trials) == len(complete)
    ran = trained(runs_in(tmp_path / "mlflow.db"))
    assert sorted(ran["tags.mtrec.optuna_trial"].astype(int)) == sorted(complete)  # none run twice
    assert ran["tags.mtrec.sweep_dir"].nunique() == 2  # both commands ran trials


@pytest.mark.slow
def test_the_pruner_stops_a_trial_from_its_validation_metric(tmp_path: Path) -> None:
    out = run_mtrec(
        tmp_path,
        "hparams_search=loss_weights_pareto",
        "experiment=smoke",
        "tracking.log_model=false",
        "objectives=[val/rmse]",
        "hydra.sweeper.direction=minimize",
        "hydra.sweeper.n_trials=2",
        "trainer.val_fraction=0.1",
        "trainer.epochs=3",
        # Trial 1's rating weight (0.008) leaves val/rmse near 3 after an epoch; trial 0's is ~1.2.
        "hydra/sweeper/pruner=threshold",
        "hydra.sweeper.pruner.upper=2.0",
        "hydra.sweep.dir=p",
    )
    assert out.returncode == 0, out.stderr[-3000:]
    states = {t.number: t.state for t in study_trials(tmp_path)}
    assert states == {0: TrialState.COMPLETE, 1: TrialState.PRUNED}
    assert "trial 1: PRUNED" in out.stdout
    runs = trained(runs_in(tmp_path / "mlflow.db")).set_index("tags.mtrec.optuna_trial")
    assert runs.loc["1", "status"] == "FINISHED" and runs.loc["1", "tags.mtrec.pruned"] == "true"
    assert pd.isna(runs.loc["1", "metrics.test/rmse"]) and runs.loc["1", "metrics.val/rmse"] > 2.0
    assert pd.isna(runs.loc["0", "tags.mtrec.pruned"]) and runs.loc["0", "metrics.test/rmse"] > 0
    summary = (tmp_path / "p" / "summary.md").read_text()
    assert summary.count("| PRUNED |") == 1 and summary.count("| FINISHED |") == 1
