"""`mtrec dataset=table` end to end: bad tables exit 2 before any run, a run records which table
it read, and the real ml-100k written as a table gives the very metrics of its GroupLens folder."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.helpers import ML_100K_TABLE_COLUMNS, REPO, run_mtrec, runs_in, write_ml_100k_table

EXAMPLE = REPO / "docs" / "examples" / "interactions.csv"
# The example table has 14 rated recipes: top-K and ranking K must stay within them.
SMALL = ("experiment=smoke", "dataset=table", "trainer.ranking_k=[5,10]")


@pytest.mark.parametrize(
    "overrides,message",
    [
        (("dataset.path=missing.csv",), "mtrec: error: dataset.path=missing.csv: no such file or folder"),
        (
            (f"dataset.path={EXAMPLE}", "dataset.columns.rating=stars"),
            f"mtrec: error: {EXAMPLE}: no column 'stars' (mapped in dataset.columns); its columns are "
            "'user_id', 'item_id', 'rating', 'timestamp', 'cooked'",
        ),
        (
            (f"dataset.path={EXAMPLE}", "dataset.columns.rating=item_id"),
            f"mtrec: error: {EXAMPLE}: row 1 (line 2): column 'item_id' (dataset.columns.rating): "
            "'tacos' is not a number",
        ),
    ],
    ids=["missing-file", "missing-column", "non-numeric-rating"],
)
def test_bad_table_exits_2_with_one_line_and_no_run(tmp_path: Path, overrides: tuple, message: str) -> None:
    out = run_mtrec(tmp_path, *SMALL, *overrides, "hydra.run.dir=out")
    assert out.returncode == 2, out.stderr[-3000:]
    assert out.stderr.strip().splitlines() == [message]
    assert "Traceback" not in out.stderr + out.stdout
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "out" / "metrics.json").exists()


def test_a_run_records_the_table_it_read_and_the_split_rule(tmp_path: Path) -> None:
    out = run_mtrec(
        tmp_path,
        *SMALL,
        f"dataset.path={EXAMPLE}",
        "dataset.split=leave_last_out",
        "tracking.log_model=false",
        "hydra.run.dir=out",
    )
    assert out.returncode == 0, out.stderr[-3000:]
    run = runs_in(tmp_path / "mlflow.db").iloc[0]
    assert run["tags.mtrec.dataset.sha256"] == hashlib.sha256(EXAMPLE.read_bytes()).hexdigest()
    assert run["tags.mtrec.dataset.path"] == str(EXAMPLE) and run["tags.mtrec.dataset.rows"] == "48"
    assert run["params.dataset.split"] == "leave_last_out" and run["params.dataset.columns.user"] == "user_id"
    # The table's path and column mapping stay out of the name; the split rule is shown.
    name = "rating=1 retrieval=1 dataset=table trainer.ranking_k=[5,10] dataset.split=leave_last_out"
    assert run["tags.mlflow.runName"] == name


@pytest.mark.slow
def test_ml_100k_as_csv_and_parquet_gives_the_grouplens_metrics(tmp_path: Path, ml_100k: Path) -> None:
    short = ("trainer.epochs=1", "tracking=none")
    metrics = {}
    for name, source in [
        ("grouplens", (f"dataset.path={ml_100k}",)),
        ("csv", ("dataset=table", f"dataset.path={write_ml_100k_table(ml_100k, tmp_path / 'r.csv')}")),
        (
            "parquet",
            ("dataset=table", f"dataset.path={write_ml_100k_table(ml_100k, tmp_path / 'r.parquet')}"),
        ),
    ]:
        table = ML_100K_TABLE_COLUMNS if name != "grouplens" else ()
        out = run_mtrec(tmp_path, *short, *source, *table, f"hydra.run.dir={name}")
        assert out.returncode == 0, out.stderr[-3000:]
        test = json.loads((tmp_path / name / "metrics.json").read_text())["test"]
        metrics[name] = {k: v for k, v in test.items() if not k.startswith("time/")}
    assert metrics["grouplens"]["test/rmse"] > 0 and "test/top_100_accuracy" in metrics["grouplens"]
    assert metrics["csv"] == metrics["grouplens"] and metrics["parquet"] == metrics["grouplens"]
