"""Tasks declared in config, end to end: real subprocess runs, real SQLite stores, real ml-100k."""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from tests.helpers import run_mtrec, runs_in


@pytest.mark.slow
def test_watch_rate_like_multirun_over_the_like_weight_on_real_ml_100k(tmp_path: Path, ml_100k: Path) -> None:
    out = run_mtrec(
        tmp_path,
        "-m",
        "tasks=watch_rate_like",
        f"dataset.path={ml_100k}",
        "tasks.like.weight=0.1,1",
        "trainer.epochs=1",
        "tracking.log_model=false",
        "hydra.sweep.dir=sweep",
    )
    assert out.returncode == 0, out.stderr[-3000:]
    runs = runs_in(tmp_path / "mlflow.db")
    jobs = runs[runs["tags.mtrec.role"] != "sweep"].set_index("tags.mlflow.runName")
    assert set(jobs.index) == {
        f"retrieval=1 rating=1 like={w} tasks=watch_rate_like trainer.epochs=1" for w in ("0.1", "1")
    }
    assert set(jobs["status"]) == {"FINISHED"}
    assert set(jobs["params.tasks.like.weight"]) == {"0.1", "1.0"}
    for metric in (
        "test/rmse",
        "test/top_100_accuracy",
        "test/like/auc",
        "test/like/log_loss",
        "test/like_loss",
    ):
        assert jobs[f"metrics.{metric}"].notna().all(), metric
    auc = jobs["metrics.test/like/auc"].rename(lambda name: name.split()[2])
    assert ((auc > 0.5) & (auc < 1)).all()
    assert auc["like=1"] > auc["like=0.1"]  # the weight reaches the loss: more weight, more learnt
    # Per-kind baselines, named so each sits beside its metric.
    assert jobs["metrics.baseline/bias/like/auc"].nunique() == 1  # one split, one baseline
    assert (
        jobs["metrics.baseline/positive_rate/like/log_loss"] > jobs["metrics.baseline/bias/like/log_loss"]
    ).all()
    history = mlflow.MlflowClient().get_metric_history(jobs["run_id"].iloc[0], "train/like_loss")
    assert [m.step for m in history] == [1]
    # The 3-objective report the option asks for: every objective a column, a scatter matrix.
    summary = (tmp_path / "sweep" / "summary.md").read_text()
    for metric in ("test/rmse", "test/like/auc", "test/top_100_accuracy"):
        assert metric in summary
    assert (tmp_path / "sweep" / "pareto.png").stat().st_size > 0


@pytest.mark.slow
def test_funnel_run_reports_every_task(tmp_path: Path) -> None:
    out = run_mtrec(
        tmp_path,
        "dataset=funnel",
        "tasks=funnel",
        "dataset.num_interactions=20000",
        "dataset.num_users=300",
        "dataset.num_movies=200",
        "trainer.epochs=2",
        "hydra.run.dir=out",
    )
    assert out.returncode == 0, out.stderr[-3000:]
    run = runs_in(tmp_path / "mlflow.db").iloc[0]
    assert run["status"] == "FINISHED" and run["tags.mlflow.runName"].startswith(
        "click=1 purchase=1 retrieval=1 dataset=funnel tasks=funnel"
    )
    for metric in ("click/auc", "purchase/auc", "purchase/log_loss", "top_100_accuracy", "recall_at_10"):
        assert 0 <= run[f"metrics.test/{metric}"] <= 1, metric
    for loss in ("click_loss", "purchase_loss", "retrieval_loss"):
        assert run[f"metrics.train/{loss}"] > 0
    assert "metrics.test/rmse" not in run.index  # no regression task, no RMSE
    assert 0.5 < run["metrics.baseline/bias/click/auc"] < 1
    # The purchase rate is 1% of impressions, so the positive-rate log-loss is small but not 0.
    assert 0.02 < run["metrics.baseline/positive_rate/purchase/log_loss"] < 0.1
    assert "test/purchase/auc" in out.stdout and "test/click/auc" in out.stdout


@pytest.mark.slow
def test_the_export_answers_every_task_in_a_fresh_process(tmp_path: Path) -> None:
    out = run_mtrec(tmp_path, "experiment=smoke", "tasks=watch_rate_like", "hydra.run.dir=out")
    assert out.returncode == 0, out.stderr[-3000:]
    run = runs_in(tmp_path / "mlflow.db").iloc[0]
    export = tmp_path / "out" / "export"
    metadata = json.loads((export / "mtrec_model.json").read_text())
    assert metadata["tasks"] == {"rating": "regression", "like": "binary"}
    assert metadata["default_task"] == "rating"
    user, movie = metadata["example"]["user_id"], metadata["example"]["movie_title"]
    pairs = tmp_path / "pairs.csv"
    pairs.write_text(f"user_id,movie_title\n{user},{movie}\n")

    def predict(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["mtrec-predict", *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )

    batch = predict("--run", run["run_id"], "--input", str(pairs))
    assert batch.returncode == 0, batch.stderr
    frame = pd.read_csv(io.StringIO(batch.stdout))
    assert list(frame.columns) == ["user_id", "movie_title", "rating", "like", "user_known", "movie_known"]
    assert 0 < frame["like"][0] < 1 and 0 < frame["rating"][0] < 6
    like = predict("--run", run["run_id"], "--user", user, "--movie", movie, "--task", "like")
    assert like.returncode == 0, like.stderr
    assert like.stdout.startswith(f"Predicted probability of like of user {user}")
    assert f"{frame['like'][0]:.3f}" in like.stdout
    rating = predict("--run", run["run_id"], "--user", user, "--movie", movie)
    assert (
        rating.stdout.startswith(f"Predicted rating of user {user}")
        and f"{frame['rating'][0]:.3f}" in rating.stdout
    )
    unknown = predict("--run", run["run_id"], "--user", user, "--movie", movie, "--task", "buy")
    assert unknown.returncode == 1
    last_line = unknown.stderr.strip().splitlines()[-1]
    assert last_line == "mtrec-predict: error: --task buy: the model's tasks are rating, like"


@pytest.mark.slow
def test_an_mmoe_run_of_three_tasks_trains_and_logs_every_tasks_metrics(tmp_path: Path) -> None:
    out = run_mtrec(
        tmp_path,
        "experiment=smoke",
        "tasks=watch_rate_like",
        "model.mmoe_experts=3",
        "model.mmoe_expert_units=[8]",
        "trainer.epochs=2",
        "hydra.run.dir=out",
    )
    assert out.returncode == 0, out.stderr[-3000:]
    run = runs_in(tmp_path / "mlflow.db").iloc[0]
    assert run["status"] == "FINISHED"
    assert run["params.model.mmoe_experts"] == "3" and run["params.model.mmoe_expert_units"] == "[8]"
    for loss in ("retrieval_loss", "rating_loss", "like_loss"):
        assert run[f"metrics.train/{loss}"] > 0, loss
        assert run[f"metrics.test/{loss}"] > 0, loss
    assert 0 < run["metrics.test/rmse"] < 3
    for metric in ("like/auc", "like/log_loss", "top_10_accuracy", "recall_at_10", "ndcg_at_10"):
        assert 0 <= run[f"metrics.test/{metric}"] <= 1, metric
    history = mlflow.MlflowClient().get_metric_history(run["run_id"], "train/like_loss")
    assert [m.step for m in history] == [1, 2]
    # The export answers both mixed heads.
    metadata = json.loads((tmp_path / "out" / "export" / "mtrec_model.json").read_text())
    assert metadata["tasks"] == {"rating": "regression", "like": "binary"}


def test_loss_weight_overrides_get_a_one_line_note_naming_the_task_keys() -> None:
    from mtrec.app.job import legacy_weight_note
    from tests.helpers import compose_config

    assert legacy_weight_note(["trainer.epochs=2", "tasks.like.weight=0.1"]) is None
    note = legacy_weight_note(["loss.rating_weight=0.5", "optimizer.lr=0.1"])
    assert note is not None and "\n" not in note
    assert "loss.rating_weight sets tasks.rating.weight" in note and "tasks.<name>.weight" in note
    # ... and what it says is true: the tutorial's rating task reads the loss key.
    cfg = compose_config("loss.rating_weight=0.5", "loss.retrieval_weight=2")
    assert (cfg.tasks.rating.weight, cfg.tasks.retrieval.weight) == (0.5, 2.0)
    cfg = compose_config("tasks=watch_rate_like", "loss.rating_weight=0.5")
    assert (cfg.tasks.rating.weight, cfg.tasks.like.weight) == (0.5, 1.0)
