"""experiment=funnel_transfer and ``mtrec-transfer --task purchase``: the report on hand-made runs,
and the experiment shrunk, end to end (MLflow runs, the labels each fraction keeps, the table)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from mtrec.app.transfer import only
from mtrec.reports.sweep import Sweep
from mtrec.reports.transfer import design_for, plot_transfer, transfer_markdown, transfer_table
from tests.helpers import run_module, run_mtrec, runs_in

# Two fractions x two arms x one seed on a small funnel (about 4 s a job).
TINY = [
    "dataset.num_users=300",
    "dataset.num_movies=200",
    "dataset.num_interactions=20000",
    "dataset.purchase_rate=0.03",
    "trainer.epochs=2",
    "trainer.early_stopping.start_from_epoch=0",
    "trainer.batch_size=1024",
    "tasks.purchase.label_fraction=0.1,1.0",
    "trainer.seed=1",
]


def funnel_runs() -> pd.DataFrame:
    """Two fractions x two arms x two seeds of hand-made funnel runs, plus a FAILED one. Every run
    has loss.retrieval_weight 1 (the funnel's tasks do not read it): the arm is the tasks' weights."""
    rows = []
    auc = {  # (f, arm, seed) -> test purchase AUC
        (0.05, "single", 1): 0.60,
        (0.05, "single", 2): 0.62,
        (0.05, "joint", 1): 0.70,
        (0.05, "joint", 2): 0.66,
        (1.0, "single", 1): 0.72,
        (1.0, "single", 2): 0.74,
        (1.0, "joint", 1): 0.75,
        (1.0, "joint", 2): 0.75,
    }
    for (f, arm, seed), value in auc.items():
        others = "0.0" if arm == "single" else "1.0"
        rows.append(
            {
                "status": "FINISHED",
                "params.trainer.seed": str(seed),
                "params.loss.retrieval_weight": "1.0",
                "params.tasks.click.kind": "binary",
                "params.tasks.click.weight": others,
                "params.tasks.purchase.kind": "binary",
                "params.tasks.purchase.weight": "1.0",
                "params.tasks.purchase.label_fraction": str(f),
                "params.tasks.retrieval.kind": "retrieval",
                "params.tasks.retrieval.weight": others,
                "metrics.test/purchase/auc": value,
                "metrics.baseline/bias/purchase/auc": 0.58 if f < 1 else 0.72,
            }
        )
    failed = {**rows[-1], "status": "FAILED", "metrics.test/purchase/auc": 0.1}
    return pd.DataFrame([*rows, failed])


def test_transfer_table_of_a_binary_task(tmp_path: Path) -> None:
    runs = funnel_runs()
    table = transfer_table(Sweep(runs=runs, title="t"), "purchase")
    assert table["f"].tolist() == [0.05, 1.0]
    assert table["purchase-only mean"].tolist() == pytest.approx([0.61, 0.73])
    assert table["joint mean"].tolist() == pytest.approx([0.68, 0.75])  # the FAILED run is left out
    assert table["joint count"].tolist() == [2, 2]
    assert table["joint - purchase-only"].tolist() == pytest.approx([0.07, 0.02])
    # Paired by seed: 0.10 and 0.04 at f = 0.05, 0.03 and 0.01 at f = 1.
    assert table["joint - purchase-only min"].tolist() == pytest.approx([0.04, 0.01])
    assert table["joint - purchase-only max"].tolist() == pytest.approx([0.10, 0.03])
    assert table["bias baseline"].tolist() == pytest.approx([0.58, 0.72])
    assert "knn baseline" not in table

    design = design_for("purchase", runs)
    assert (design.metric, design.goal) == ("metrics.test/purchase/auc", "max")
    lines = transfer_markdown(table, design).splitlines()
    assert lines[0] == (
        "| purchase fraction | purchase-only AUC | joint AUC | joint - purchase-only | per seed (min … max) "
        "| bias baseline | seeds |"
    )
    assert lines[2].startswith("| 0.0500 | 0.6100 ± 0.0141 | 0.6800 ± 0.0283 | 0.0700 | +0.0400 … +0.1000 |")
    assert "higher is better" in lines[-1]
    plot_transfer(table, tmp_path / "transfer.png", design)
    assert (tmp_path / "transfer.png").stat().st_size > 0


def test_transfer_table_pairs_within_each_dataset_draw() -> None:
    # The same seeds on a second dataset draw (split seed 7), 0.05 higher for purchase-only and 0.01
    # higher for joint: 4 pairs per fraction, each joint - purchase-only of its own draw.
    first = funnel_runs().assign(**{"params.dataset.split_seed": "42"})
    second = first.copy()
    second["params.dataset.split_seed"] = "7"
    single = second["params.tasks.click.weight"] == "0.0"
    second.loc[single, "metrics.test/purchase/auc"] += 0.05
    second.loc[~single, "metrics.test/purchase/auc"] += 0.01
    table = transfer_table(Sweep(runs=pd.concat([first, second]), title="t"), "purchase")
    assert table["joint count"].tolist() == [4, 4]
    assert table["joint - purchase-only count"].tolist() == [4, 4]
    # Pairs at f = 0.05: 0.10, 0.04 (draw 42) and 0.06, 0.00 (draw 7); at f = 1: 0.03, 0.01, -0.01, -0.03.
    assert table["joint - purchase-only min"].tolist() == pytest.approx([0.0, -0.03])
    assert table["joint - purchase-only max"].tolist() == pytest.approx([0.10, 0.03])
    assert table["joint - purchase-only mean"].tolist() == pytest.approx([0.05, 0.0])


def test_where_keeps_the_jobs_of_one_draw_and_names_a_bad_key() -> None:
    first = funnel_runs().assign(**{"params.dataset.split_seed": "42"})
    both = Sweep(runs=pd.concat([first, first.assign(**{"params.dataset.split_seed": "7"})]), title="t")
    kept = only(both, ["dataset.split_seed=7", "trainer.seed=2"])
    assert len(kept.runs) == 5 and set(kept.runs["params.dataset.split_seed"]) == {"7"}  # one FAILED
    assert set(kept.runs["params.trainer.seed"]) == {"2"}
    assert kept.title == "t where dataset.split_seed=7, trainer.seed=2"
    assert transfer_table(kept, "purchase")["joint count"].tolist() == [1, 1]
    with pytest.raises(ValueError, match="--where 'model.mmoe=4': no job of t logged model.mmoe"):
        only(both, ["model.mmoe=4"])
    with pytest.raises(ValueError, match="expected KEY=VALUE"):
        only(both, ["dataset.split_seed"])


def test_transfer_table_needs_a_regression_or_binary_task() -> None:
    runs = funnel_runs()
    with pytest.raises(ValueError, match="no regression or binary task 'retrieval'"):
        transfer_table(Sweep(runs=runs, title="t"), "retrieval")
    with pytest.raises(ValueError, match="no regression or binary task 'like'"):
        transfer_table(Sweep(runs=runs, title="t"), "like")


@pytest.mark.slow
def test_funnel_transfer_sweep_and_report(tmp_path: Path) -> None:
    import mlflow

    out = run_mtrec(tmp_path, "experiment=funnel_transfer", *TINY, "hydra.sweep.dir=sweep")
    assert out.returncode == 0, out.stderr[-3000:]
    runs = runs_in(tmp_path / "mlflow.db", "funnel_transfer")
    jobs = runs[runs["tags.mtrec.role"] != "sweep"]
    assert len(jobs) == 4 and set(jobs["status"]) == {"FINISHED"}
    # Purchase-only trains neither clicks nor retrieval; both arms keep the purchase task at 1.
    arms = zip(
        jobs["params.tasks.click.weight"],
        jobs["params.tasks.retrieval.weight"],
        jobs["params.tasks.purchase.weight"],
    )
    assert sorted(arms) == [("0.0", "0.0", "1.0")] * 2 + [("1.0", "1.0", "1.0")] * 2
    assert sorted(jobs["params.tasks.purchase.label_fraction"]) == ["0.1", "0.1", "1.0", "1.0"]
    assert set(jobs["params.trainer.early_stopping.metric"]) == {"val/purchase/auc"}
    assert jobs["metrics.train/best_epoch"].between(1, 2).all()

    # The labels each job kept: f of the training + validation rows (drawn before validation is
    # carved out), the same rows for both arms (the seed's draw); every label at f = 1.
    client = mlflow.MlflowClient()
    kept = {}
    for _, job in jobs.iterrows():
        inputs = {d.tags[0].value: d.dataset for d in client.get_run(job["run_id"]).inputs.dataset_inputs}
        profiles = {context: json.loads(d.profile) for context, d in inputs.items()}
        assert set(profiles) == {"training", "validation", "test"}
        rows = profiles["training"]["num_rows"] + profiles["validation"]["num_rows"]
        f = float(job["params.tasks.purchase.label_fraction"])
        if f == 1.0:
            assert "num_purchase_known_rows" not in profiles["training"]
            assert "purchase_known" not in inputs["training"].schema
        else:
            known = (
                profiles["training"]["num_purchase_known_rows"]
                + profiles["validation"]["num_purchase_known_rows"]
            )
            assert known == round(f * rows)
            assert "purchase_known" in inputs["training"].schema
            kept[job["params.tasks.click.weight"]] = inputs["training"].digest
        assert "num_purchase_known_rows" not in profiles["test"]  # test keeps every label
    assert kept["0.0"] == kept["1.0"]  # the same masked rows in both arms

    sweep_id = json.loads((tmp_path / "sweep" / "mtrec_sweep.json").read_text())["sweep_id"]
    report = run_module(
        tmp_path, "mtrec.app.transfer", "--task", "purchase", "--sweep", sweep_id, "--output", "docs"
    )
    assert report.returncode == 0, report.stderr[-3000:]
    table = pd.read_csv(tmp_path / "docs" / "transfer.csv")
    assert table["f"].tolist() == [0.1, 1.0]
    assert table["joint count"].tolist() == [1, 1] and table["purchase-only count"].tolist() == [1, 1]
    for _, row in table.iterrows():
        fraction = jobs["params.tasks.purchase.label_fraction"].astype(float) == row["f"]
        joint = jobs[fraction & (jobs["params.tasks.click.weight"] == "1.0")]
        single = jobs[fraction & (jobs["params.tasks.click.weight"] == "0.0")]
        assert row["joint mean"] == pytest.approx(joint["metrics.test/purchase/auc"].item())
        assert row["purchase-only mean"] == pytest.approx(single["metrics.test/purchase/auc"].item())
        assert row["joint - purchase-only"] == pytest.approx(row["joint mean"] - row["purchase-only mean"])
        assert row["bias baseline"] == pytest.approx(joint["metrics.baseline/bias/purchase/auc"].item())
    assert (tmp_path / "docs" / "transfer.png").stat().st_size > 0
    one = run_module(
        tmp_path, "mtrec.app.transfer", "--task", "purchase", "--sweep", sweep_id,
        "--where", "tasks.purchase.label_fraction=1.0", "--where", "nosuch.key=1",
    )  # fmt: skip
    assert one.returncode == 2 and one.stdout == ""
    assert one.stderr.strip().splitlines() == [
        f"mtrec-transfer: error: --where 'nosuch.key=1': no job of sweep {sweep_id} logged nosuch.key"
    ]
    rows = [line for line in report.stdout.splitlines() if line.startswith("| ")]
    assert len(rows) == 3 and rows[0].startswith("| purchase fraction | purchase-only AUC | joint AUC")
    assert rows[1].startswith("| 0.1") and "±" in rows[1]
