"""The `mtrec` command end to end, in subprocesses, with a SQLite store under tmp_path."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import mlflow
import pytest

from tests.helpers import FIXTURES, run_mtrec, runs_in


def test_smoke_run_logs_one_complete_mlflow_run(tmp_path: Path) -> None:
    out = run_mtrec(tmp_path, "experiment=smoke", "hydra.run.dir=out")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "epoch 1/1  train/loss=" in out.stdout
    assert "test/top_10_accuracy" in out.stdout and "test/rmse" in out.stdout
    # No MLflow noise: its artifact progress bars, its warning about the (deliberately) absent example.
    assert "Downloading artifacts" not in out.stderr and "input example" not in out.stderr
    # Nor TensorFlow's CPU start-up notices (mtrec.tensorflow_import).
    assert (
        "cuInit" not in out.stderr and "cudart_stub" not in out.stderr and "InitializeLog" not in out.stderr
    )

    runs = runs_in(tmp_path / "mlflow.db")
    assert len(runs) == 1
    run = runs.iloc[0]
    assert run["status"] == "FINISHED"
    assert run["tags.mlflow.runName"] == "rating=1 retrieval=1"
    assert run["params.loss.rating_weight"] == "1.0" and run["params.trainer.epochs"] == "1"
    assert run["params.dataset.name"] == "synthetic" and run["params.model.embedding_dim"] == "8"
    assert run["tags.mtrec.version"] and run["tags.mtrec.overrides"] == "experiment=smoke"
    assert 0.0 < run["metrics.test/rmse"] < 5.0
    assert 0.0 <= run["metrics.test/top_1_accuracy"] <= run["metrics.test/top_10_accuracy"] <= 1.0
    client = mlflow.MlflowClient()
    history = client.get_metric_history(run["run_id"], "train/retrieval_loss")
    assert [m.step for m in history] == [1]

    artifacts = {a.path for a in client.list_artifacts(run["run_id"])}
    assert {"config.yaml", "metrics.json", ".hydra"} <= artifacts
    hydra_files = {a.path for a in client.list_artifacts(run["run_id"], ".hydra")}
    assert ".hydra/overrides.yaml" in hydra_files
    assert run["tags.mtrec.model_uri"].startswith("models:/")  # the exported model (mtrec-predict)
    assert (tmp_path / "out" / "export" / "saved_model").is_dir()
    written = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert written["test"]["test/rmse"] == pytest.approx(run["metrics.test/rmse"])
    # Its data as MLflow dataset inputs: the UI's Dataset column, and search_runs by dataset.
    inputs = client.get_run(run["run_id"]).inputs.dataset_inputs
    assert [(d.dataset.name, d.tags[0].value) for d in inputs] == [
        ("synthetic-train", "training"),
        ("synthetic-test", "test"),
    ]
    assert [json.loads(d.dataset.profile)["num_rows"] for d in inputs] == [4000, 1000]
    found = mlflow.search_runs(experiment_names=["mtrec"], filter_string="dataset.context = 'test'")
    assert list(found["run_id"]) == [run["run_id"]]


@pytest.mark.parametrize(
    "override,message",
    [
        ("loss.rating_weight=-1", "mtrec: error: loss.rating_weight must be >= 0 (got -1.0)"),
        (
            "trainer.top_k=[1,10,500]",
            "mtrec: error: trainer.top_k[2] must be <= the number of candidate movies",
        ),
        (
            "loss.weighting=learned",
            "mtrec: error: loss.weighting must be one of ('fixed', 'uncertainty', 'gradnorm')",
        ),
        (
            "model.mmoe_expert_units=[8,0] model.mmoe_experts=2",
            "mtrec: error: model.mmoe_expert_units[1] must be > 0 (got 0)",
        ),
        ("dataset=movielens_100k", None),
    ],
)
def test_bad_input_exits_2_with_one_line_and_no_run(tmp_path: Path, override: str, message) -> None:
    args = ["experiment=smoke", *override.split()]
    if message is None:  # A data error: the folder does not exist.
        args.append(f"dataset.path={tmp_path / 'missing'}")
        message = f"mtrec: error: dataset.path={tmp_path / 'missing'}: no such folder"
    out = run_mtrec(tmp_path, *args, "hydra.run.dir=out")
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [message] or out.stderr.strip().startswith(message)
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "Traceback" not in out.stderr + out.stdout
    assert not (tmp_path / "mlflow.db").exists()
    assert not (tmp_path / "out" / "metrics.json").exists()


TUTORIAL_TASKS = """
rating: {kind: regression, weight: 1.0, label: rating}
retrieval: {kind: retrieval, weight: 1.0}
"""


@pytest.mark.parametrize(
    "extra_task,overrides,message",
    [
        ("x: {kind: ranking, label: rating}", [], "tasks.x.kind must be one of"),
        ("like: {kind: binary, label: click}", [], "tasks.like.label must be a column of dataset synthetic"),
        ("like: {kind: binary, label: rating}", [], "tasks.like.label must be a 0/1 column"),
        ("", ["tasks.rating.weight=0", "tasks.retrieval.weight=0"], "tasks.*.weight are all 0"),
        ("", ["loss.rating_weight=0", "loss.retrieval_weight=0"], "tasks.*.weight are all 0"),
        ("", ["tasks.rating.threshold=3"], "tasks.rating.threshold must be unset for a regression task"),
        (
            "",
            ["tasks.retrieval.hidden_units=[8]"],
            "tasks.retrieval.hidden_units must be unset for a retrieval",
        ),
        ("more: {kind: retrieval}", [], "tasks must be exactly one retrieval task"),
    ],
)
def test_bad_tasks_exit_2_in_one_line_before_tensorflow(
    tmp_path: Path, extra_task: str, overrides: list[str], message: str
) -> None:
    # A user's own tasks option, in a config folder of their own on Hydra's search path.
    tasks = tmp_path / "conf" / "tasks"
    tasks.mkdir(parents=True)
    (tasks / "mine.yaml").write_text(TUTORIAL_TASKS + extra_task + "\n")
    search = f"hydra.searchpath=[file://{tmp_path / 'conf'}]"
    args = ["experiment=smoke", search, "tasks=mine", *overrides, "hydra.run.dir=out"]
    if message == "tasks.*.weight are all 0" and overrides[0].startswith("loss."):
        args.remove("tasks=mine")  # tasks=tutorial: its weights read loss.*
    out = run_mtrec(tmp_path, *args)
    assert out.returncode == 2, out.stderr[-2000:]
    # One line, and none of TensorFlow's start-up lines: it was never imported.
    assert out.stderr.strip().splitlines() == [out.stderr.strip()]
    assert out.stderr.startswith(f"mtrec: error: {message}"), out.stderr
    assert not (tmp_path / "mlflow.db").exists()


def corrupt_store(tmp_path: Path) -> list[str]:
    (tmp_path / "mlflow.db").write_bytes(b"not an SQLite file" * 100)
    return ["experiment=smoke"]


def movielens_with(u_data: str):
    def make(tmp_path: Path) -> list[str]:
        shutil.copytree(FIXTURES / "ml-100k-mini", tmp_path / "ml")
        (tmp_path / "ml" / "u.data").write_text(u_data)
        return ["dataset=movielens_100k", f"dataset.path={tmp_path / 'ml'}"]

    return make


@pytest.mark.parametrize(
    "arrange,message",
    [
        (corrupt_store, "mtrec: error: cannot read the MLflow store sqlite:///mlflow.db: "),
        (
            lambda tmp_path: ["experiment=smoke", "tracking.uri=http://127.0.0.1:9"],
            "mtrec: error: cannot reach the MLflow store at http://127.0.0.1:9: ",
        ),
        (movielens_with(""), "mtrec: error: {ml}/u.data: no ratings in the file (is it empty?)"),
        (
            movielens_with("1\t1\t5\t874965758\n1\t2\t9\t876893171\n"),
            "mtrec: error: {ml}/u.data:2: rating 9 is outside the dataset's scale 1-5",
        ),
    ],
    ids=["corrupt-store", "server-down", "empty-ratings", "rating-9"],
)
def test_faults_exit_2_with_one_line_and_leave_no_run(tmp_path: Path, arrange, message: str) -> None:
    args = arrange(tmp_path)
    out = run_mtrec(tmp_path, *args, "hydra.run.dir=out", timeout=120)
    assert out.returncode == 2, out.stderr[-3000:]
    assert out.stderr.startswith(message.format(ml=tmp_path / "ml")), out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr + out.stdout
    db = tmp_path / "mlflow.db"
    if db.is_file() and arrange is not corrupt_store:
        assert len(runs_in(db)) == 0
    assert not (tmp_path / "out" / "metrics.json").exists()


def test_a_multirun_whose_store_is_down_stops_in_one_line_before_any_job(tmp_path: Path) -> None:
    out = run_mtrec(
        tmp_path, "-m", "experiment=smoke", "tracking.uri=http://127.0.0.1:9", "loss.rating_weight=0.5,1"
    )
    assert out.returncode == 2, out.stderr[-3000:]
    assert out.stderr.startswith("mtrec: error: cannot reach the MLflow store at http://127.0.0.1:9: ")
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr
    assert "epoch" not in out.stdout


def test_dry_run_builds_the_model_without_training_or_tracking(tmp_path: Path) -> None:
    out = run_mtrec(tmp_path, "experiment=smoke", "dry_run=true", "hydra.run.dir=out")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "model ok: 300 users, 200 movies, 4000 train / 1000 test rows" in out.stdout
    assert "epoch" not in out.stdout
    assert not (tmp_path / "mlflow.db").exists()


def test_misspelt_key_is_refused_before_anything_runs(tmp_path: Path) -> None:
    out = run_mtrec(tmp_path, "experiment=smoke", "loss.rating_wieght=2")
    assert out.returncode != 0
    assert "Key 'rating_wieght' not in 'LossConfig'" in out.stderr
    assert "full_key: loss.rating_wieght" in out.stderr
    assert not (tmp_path / "mlflow.db").exists()


def test_single_run_with_diverging_loss_fails_in_one_line_and_marks_the_run_failed(tmp_path: Path) -> None:
    out = run_mtrec(
        tmp_path,
        "experiment=smoke",
        "optimizer=sgd",
        "optimizer.lr=1e12",
        "tracking.log_model=false",
        "hydra.run.dir=out",
    )
    assert out.returncode == 2
    assert "mtrec: error: train/rating_loss became" in out.stderr and "Traceback" not in out.stderr
    runs = runs_in(tmp_path / "mlflow.db")
    assert list(runs["status"]) == ["FAILED"]
    assert runs.iloc[0]["tags.mtrec.error"].startswith("NonFiniteLossError: train/rating_loss became")
    assert not (tmp_path / "out" / "metrics.json").exists()


def test_help_introduces_mtrec_and_lists_real_options(tmp_path: Path) -> None:
    out = run_mtrec(tmp_path, "--help")
    assert out.returncode == 0, out.stderr[-3000:]
    text = out.stdout
    assert text.startswith("mtrec trains and compares multitask recommenders")
    assert "powered by Hydra" not in text and "_schema" not in text
    assert "optimizer: adagrad, adam, sgd" in text
    assert (
        "experiment: best_joint, funnel_transfer, smoke, sparse_ratings, sparse_ratings_like, tutorial, "
        "weighting_study" in text
    )
    assert "docs/reference/configuration.md" in text
    assert "rating_weight: 1.0" in text  # the composed config, overridable key by key
    assert not (tmp_path / "mlflow.db").exists()  # help runs nothing
