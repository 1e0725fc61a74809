"""hydra/sweeper=methods end to end: ``experiment=weighting_study``, shrunk to synthetic data and a
budget of 2 jobs per method, in real `mtrec` processes; the report's fronts and hypervolumes."""

from __future__ import annotations

from pathlib import Path

import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState

from mtrec.reports.methods import hypervolume
from tests.helpers import run_mtrec, runs_in

# The shipped study, each method's grid cut to 2 points and the data to the synthetic smoke set.
SMALL_STUDY = """\
# @package _global_
defaults:
  - weighting_study
  - smoke
objectives: [val/rmse, val/top_10_accuracy]
sweep:
  pareto:
    - {metric: test/rmse, goal: min}
    - {metric: test/top_10_accuracy, goal: max}
hydra:
  sweeper:
    budget: 2
    methods:
      grid:
        params: {loss.retrieval_weight: "choice(0.1, 1)"}
      search:
        sampler: {n_startup_trials: 1}
      uncertainty:
        params: {trainer.seed: "choice(1, 2)"}
      gradnorm:
        params: {loss.gradnorm_alpha: "choice(0, 1.5)"}
"""
METHODS = ["grid", "search", "uncertainty", "gradnorm"]


def small_study(folder: Path) -> str:
    (folder / "conf" / "experiment").mkdir(parents=True)
    (folder / "conf" / "experiment" / "small_study.yaml").write_text(SMALL_STUDY)
    return str(folder / "conf")


def trained(runs: pd.DataFrame) -> pd.DataFrame:
    copies = runs.get("tags.mtrec.resumed_from", pd.Series(None, index=runs.index)).notna()
    return runs[(runs["tags.mtrec.role"] != "sweep") & ~copies]


@pytest.mark.slow
def test_each_method_spends_the_budget_on_one_report_and_a_rerun_trains_nothing(tmp_path: Path) -> None:
    conf = small_study(tmp_path)
    args = ("--config-dir", conf, "experiment=small_study", "tracking.experiment=study")
    out = run_mtrec(tmp_path, *args, "hydra.sweep.dir=s1")
    assert out.returncode == 0, out.stderr[-3000:]

    runs = runs_in(tmp_path / "mlflow.db", "study")
    jobs = trained(runs)
    assert set(jobs["status"]) == {"FINISHED"}
    assert jobs["params.sweep.method"].value_counts().to_dict() == {m: 2 for m in METHODS}
    by_method = {m: jobs[jobs["params.sweep.method"] == m] for m in METHODS}
    assert sorted(by_method["grid"]["params.loss.retrieval_weight"].astype(float)) == [0.1, 1.0]
    assert set(by_method["uncertainty"]["params.loss.weighting"]) == {"uncertainty"}
    assert sorted(by_method["uncertainty"]["params.trainer.seed"].astype(int)) == [1, 2]
    assert sorted(by_method["gradnorm"]["params.loss.gradnorm_alpha"].astype(float)) == [0.0, 1.5]
    assert set(by_method["search"]["params.loss.weighting"]) == {"fixed"}
    assert by_method["search"]["params.loss.rating_weight"].astype(float).nunique() == 2

    # One Optuna study per method, each with its budget of COMPLETE trials.
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    names = sorted(optuna.get_all_study_names(storage))
    assert [n.rsplit("-", 1)[0] for n in names] == sorted(f"small_study-{m}" for m in METHODS)
    for name in names:
        trials = optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)
        assert [t.state for t in trials] == [TrialState.COMPLETE] * 2

    # The report: a row per method, with the hypervolume of its own jobs from the jobs' worst values.
    summary = (tmp_path / "s1" / "summary.md").read_text()
    assert "Hypervolume by method (reference point: test/rmse=" in summary
    goals = ["min", "max"]
    metrics = ["metrics.test/rmse", "metrics.test/top_10_accuracy"]
    reference = [jobs[metrics[0]].max(), jobs[metrics[1]].min()]
    for method, mine in by_method.items():
        volume = hypervolume(mine[metrics].to_numpy(), goals, reference)
        row = next(line for line in summary.splitlines() if line.startswith(f"| {method} | 2 | 2 |"))
        assert float(row.split("|")[5]) == pytest.approx(volume, rel=1e-4, abs=1e-9)
    assert (tmp_path / "s1" / "pareto.png").stat().st_size > 10_000

    # The same command again: every study is complete, so nothing trains; the new parent holds copies.
    again = run_mtrec(tmp_path, *args, "hydra.sweep.dir=s2")
    assert again.returncode == 0, again.stderr[-3000:]
    runs = runs_in(tmp_path / "mlflow.db", "study")
    assert len(trained(runs)) == len(jobs)
    parent = runs[(runs["tags.mtrec.role"] == "sweep") & (runs["tags.mtrec.sweep_dir"] == "s2")]["run_id"]
    children = runs[runs["tags.mlflow.parentRunId"] == parent.iloc[0]]
    assert len(children) == 8 and children["tags.mtrec.resumed_from"].notna().all()
    assert "| gradnorm | 2 | 2 |" in (tmp_path / "s2" / "summary.md").read_text()


@pytest.mark.slow
def test_a_grid_off_the_budget_is_refused_before_any_job(tmp_path: Path) -> None:
    conf = small_study(tmp_path)
    out = run_mtrec(tmp_path, "--config-dir", conf, "experiment=small_study", "hydra.sweeper.budget=3")
    assert out.returncode == 2, out.stderr[-3000:]
    errors = [line for line in out.stderr.splitlines() if line.startswith("mtrec: error:")]
    assert errors == [
        "mtrec: error: hydra.sweeper.methods.grid: its grid has 2 points and hydra.sweeper.budget "
        "is 3; methods compare at equal budget"
    ]
    runs = runs_in(tmp_path / "mlflow.db", "weighting_study")
    assert "RUNNING" not in set(runs["status"]) and (runs["tags.mtrec.role"] == "sweep").all()
