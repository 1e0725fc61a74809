"""The model-quality experiments, end to end on synthetic data: best_joint and sparse_ratings
(funnel_transfer: tests/app/test_funnel_transfer.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from omegaconf import OmegaConf

from mtrec.config import validate
from mtrec.reports.sweep import Sweep
from mtrec.reports.transfer import transfer_markdown, transfer_table
from tests.helpers import compose_config, run_module, run_mtrec, runs_in

SMALL = ["dataset=synthetic", "trainer.epochs=1", "trainer.batch_size=512"]


@pytest.mark.parametrize(
    "experiment", ["best_joint", "sparse_ratings", "sparse_ratings_like", "funnel_transfer"]
)
def test_experiments_compose_and_validate(experiment: str) -> None:
    cfg = OmegaConf.to_object(compose_config(f"experiment={experiment}"))
    validate(cfg)
    assert cfg.trainer.val_fraction > 0 and cfg.trainer.early_stopping.metric.startswith("val/")


def test_best_joint_one_epoch(tmp_path: Path) -> None:
    out = run_mtrec(tmp_path, "experiment=best_joint", *SMALL, "tracking=none", "hydra.run.dir=run")
    assert out.returncode == 0, out.stderr[-3000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())["test"]
    for name in ("test/rmse", "test/top_10_accuracy", "test/recall_at_10", "test/ndcg_at_10", "val/rmse"):
        assert name in metrics
    assert metrics["train/best_epoch"] == 1


@pytest.mark.parametrize(("arm", "weights"), [("rating_only", (0.1, 0.0, 0.0)), ("joint", (0.1, 1.0, 1.0))])
def test_sparse_ratings_like_arms(arm: str, weights: tuple[float, float, float]) -> None:
    # The like task weighs what retrieval weighs, so rating-only is the rating task alone (which
    # mtrec-transfer reads from the weights), and its linear head reads the shared embeddings.
    cfg = OmegaConf.to_object(compose_config("experiment=sparse_ratings_like", f"loss={arm}"))
    validate(cfg)
    assert tuple(cfg.tasks[name].weight for name in ("rating", "retrieval", "like")) == weights
    assert cfg.tasks["like"].label_fraction == 1.0 and cfg.tasks["like"].hidden_units == []
    assert cfg.tasks["rating"].label_fraction == cfg.dataset.rating_fraction
    assert cfg.model.rating_hidden_units == [] and cfg.tracking.experiment == "sparse_ratings_like"


@pytest.mark.slow
def test_sparse_ratings_sweep_and_transfer_report(tmp_path: Path) -> None:
    out = run_mtrec(
        tmp_path,
        "experiment=sparse_ratings",
        *SMALL,
        "dataset.rating_fraction=0.1,1.0",
        "trainer.seed=1,2",
        "hydra.sweep.dir=sweep",
    )
    assert out.returncode == 0, out.stderr[-3000:]
    runs = runs_in(tmp_path / "mlflow.db", "sparse_ratings")
    jobs = runs[runs["tags.mtrec.role"] != "sweep"]
    assert len(jobs) == 8 and set(jobs["status"]) == {"FINISHED"}
    # Rating-only jobs train no retrieval; both models use the same (0.1) rating weight.
    assert set(zip(jobs["params.loss.rating_weight"], jobs["params.loss.retrieval_weight"])) == {
        ("0.1", "0.0"),
        ("0.1", "1.0"),
    }
    sweep_id = json.loads((tmp_path / "sweep" / "mtrec_sweep.json").read_text())["sweep_id"]
    report = run_module(tmp_path, "mtrec.app.transfer", "--sweep", sweep_id, "--output", "docs")
    assert report.returncode == 0, report.stderr[-3000:]
    table = pd.read_csv(tmp_path / "docs" / "transfer.csv")
    assert table["f"].tolist() == [0.1, 1.0]
    assert table["joint count"].tolist() == [2, 2] and table["rating-only count"].tolist() == [2, 2]
    expected = jobs[
        (jobs["params.dataset.rating_fraction"] == "0.1") & (jobs["params.loss.retrieval_weight"] == "1.0")
    ]
    assert table["joint mean"][0] == pytest.approx(expected["metrics.test/rmse"].mean())
    assert (tmp_path / "docs" / "transfer.png").stat().st_size > 0
    rows = [line for line in report.stdout.splitlines() if line.startswith("| ")]
    assert len(rows) == 3 and rows[1].startswith("| 0.1") and "±" in rows[1]  # header + two fractions


def test_transfer_table_groups_by_fraction_and_model() -> None:
    runs = pd.DataFrame(
        {
            "status": ["FINISHED"] * 5 + ["FAILED"],
            "params.dataset.rating_fraction": ["0.1", "0.1", "0.1", "1.0", "1.0", "1.0"],
            "params.loss.retrieval_weight": ["0.0", "0.0", "1.0", "0.0", "1.0", "1.0"],
            "metrics.test/rmse": [1.0, 1.2, 0.9, 0.95, 0.93, 5.0],
            "metrics.baseline/bias/rmse": [1.05, 1.05, 1.05, 0.95, 0.95, 0.95],
        }
    )
    table = transfer_table(Sweep(runs=runs, title="t"))
    assert table["rating-only mean"].tolist() == pytest.approx([1.1, 0.95])
    assert table["joint mean"].tolist() == pytest.approx([0.9, 0.93])  # the FAILED job is left out
    assert table["joint - rating-only"].tolist() == pytest.approx([-0.2, -0.02])
    assert table["bias baseline"].tolist() == pytest.approx([1.05, 0.95])
    assert "knn baseline" not in table  # a sweep from before the strong baselines
    runs["metrics.baseline/knn/rmse"] = [1.0, 1.0, 1.0, 0.92, 0.92, 0.92]
    table = transfer_table(Sweep(runs=runs, title="t"))
    assert table["knn baseline"].tolist() == pytest.approx([1.0, 0.92])
    assert "item-kNN baseline" in transfer_markdown(table).splitlines()[0]
