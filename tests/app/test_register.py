"""mtrec-register: a sweep's best job as a registered model version with an alias, which
mtrec-predict then loads by name (models:/NAME@ALIAS)."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pytest

from mtrec.app import predict, register
from tests.helpers import run_mtrec


@pytest.mark.slow
def test_the_best_job_of_a_sweep_is_registered_and_predicts_by_its_alias(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    sweep = run_mtrec(tmp_path, "-m", "experiment=smoke", "loss.rating_weight=0.1,1", "hydra.sweep.dir=sweep")
    assert sweep.returncode == 0, sweep.stderr[-3000:]
    assert "job 1/2 done, " in sweep.stdout and "job 2/2 done, " in sweep.stdout  # the progress line
    state = json.loads((tmp_path / "sweep" / "mtrec_sweep.json").read_text())
    monkeypatch.chdir(tmp_path)
    mlflow.set_tracking_uri("sqlite:///mlflow.db")
    jobs = mlflow.search_runs(
        experiment_names=["mtrec"], filter_string=f"tags.`mtrec.sweep_id` = '{state['sweep_id']}'"
    )
    best = jobs.sort_values("metrics.test/rmse").iloc[0]

    argv = ["--sweep", state["sweep_id"], "--metric", "test/rmse", "--name", "movielens-joint"]
    assert register.main([*argv, "--alias", "champion"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"mtrec-register: registered run {best['run_id']} (")
    assert "as movielens-joint version 1; models:/movielens-joint@champion is that version" in out
    client = mlflow.MlflowClient()
    version = client.get_model_version_by_alias("movielens-joint", "champion")
    assert str(version.version) == "1" and version.tags["mtrec.run_id"] == best["run_id"]
    # A second registration is version 2; the alias moves only when asked.
    assert register.main(["--sweep", state["parent_run_id"], "--name", "movielens-joint"]) == 0
    assert str(client.get_model_version_by_alias("movielens-joint", "champion").version) == "1"
    capsys.readouterr()

    user, title = "user_001", "movie_002"
    assert (
        predict.predict_main(
            ["--model", "models:/movielens-joint@champion", "--user", user, "--movie", title]
        )
        == 0
    )
    by_alias = capsys.readouterr().out
    assert predict.predict_main(["--run", best["run_id"], "--user", user, "--movie", title]) == 0
    assert capsys.readouterr().out == by_alias  # the same model as the best run's own
    assert by_alias.startswith(f"Predicted rating of user {user} for {title!r}: ")

    assert register.main(["--sweep", "nope", "--name", "x"]) == 2
    assert (
        capsys.readouterr().err
        == "mtrec-register: error: unknown sweep 'nope': no sweep run has this id or sweep id\n"
    )
