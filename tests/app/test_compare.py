"""mtrec-compare's errors: one line, exit status 2, for each way the store or the query is wrong."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest

from mtrec.app import compare


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = compare.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_missing_sqlite_store(tmp_path: Path, capsys) -> None:
    code, out, err = run(capsys, "--experiment", "mtrec", "--tracking-uri", f"sqlite:///{tmp_path}/none.db")
    assert code == 2 and out == ""
    assert err == (
        f"mtrec-compare: error: no MLflow store at sqlite:///{tmp_path}/none.db "
        f"({tmp_path}/none.db does not exist); pass --tracking-uri\n"
    )
    assert not (tmp_path / "none.db").exists()


def test_unreachable_server_fails_fast(capsys, monkeypatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    code, _, err = run(capsys, "--experiment", "mtrec", "--tracking-uri", "http://127.0.0.1:9")
    assert code == 2
    assert err.startswith("mtrec-compare: error: cannot reach the MLflow store at http://127.0.0.1:9: ")
    assert err.count("\n") == 1


def test_unknown_experiment_sweep_and_sort_column(tmp_path: Path, capsys) -> None:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("present")
    with mlflow.start_run(run_name="r"):
        mlflow.log_params({"loss.rating_weight": 1.0, "loss.retrieval_weight": 1.0})
        mlflow.log_metrics({"test/rmse": 1.0, "test/top_100_accuracy": 0.2})
    capsys.readouterr()  # MLflow's own set-up messages
    assert run(capsys, "--experiment", "absent", "--tracking-uri", uri)[2] == (
        f"mtrec-compare: error: unknown experiment 'absent' in {uri}\n"
    )
    assert "unknown sweep 'nope'" in run(capsys, "--sweep", "nope", "--tracking-uri", uri)[2]
    code, _, err = run(capsys, "--experiment", "present", "--tracking-uri", uri, "--sort", "test/rmsee")
    assert code == 2 and "--sort 'test/rmsee' is not a column" in err
    code, out, _ = run(capsys, "--experiment", "present", "--tracking-uri", uri, "--format", "csv")
    assert code == 0 and out.splitlines()[1].startswith("r,1.0,1.0,1.0,0.2,")


@pytest.mark.parametrize("bad", ["test/rmse:min", "test/rmse:low,test/top_100_accuracy:max"])
def test_bad_pareto_flag_is_an_argument_error(bad: str) -> None:
    with pytest.raises(SystemExit) as e:
        compare.main(["--experiment", "x", "--pareto", bad])
    assert e.value.code == 2


@pytest.mark.parametrize(
    "flags,message",
    [
        (["--pareto", "test/rmse:min"], "--pareto must be a list of at least two objectives (got 1)"),
        (
            ["--pareto", "test/rmse:min", "--pareto", "test/ndcg_at_10:max", "--pareto", "test/rmse:max"],
            "--pareto[2].metric must be different from --pareto[0].metric (got 'test/rmse')",
        ),
        (["--pareto", ":min,test/rmse:min"], "argument --pareto: expected METRIC:min|max, got ':min'"),
    ],
)
def test_bad_pareto_objectives_name_the_flag(capsys, flags: list[str], message: str) -> None:
    with pytest.raises(SystemExit) as e:
        compare.main(["--experiment", "x", *flags])
    assert e.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == f"mtrec-compare: error: {message}"


def test_pareto_objectives_repeat_or_separate_by_commas() -> None:
    def parsed(*values: str) -> list[tuple[str, str]]:
        objectives = compare.pareto_objectives([compare._parse_pareto(v) for v in values] or None)
        return [(o.metric, o.goal) for o in objectives]

    assert parsed() == [("test/rmse", "min"), ("test/top_100_accuracy", "max")]
    three = [("test/rmse", "min"), ("test/top_10_accuracy", "max"), ("test/ndcg_at_10", "max")]
    assert parsed("test/rmse:min", "test/top_10_accuracy:max", "test/ndcg_at_10:max") == three
    assert parsed("test/rmse:min,test/top_10_accuracy:max", "test/ndcg_at_10:max") == three


def test_three_objectives_from_a_store(tmp_path: Path, capsys) -> None:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("three")
    # b is beaten by a on RMSE and accuracy and beats it on NDCG; c is beaten by a on all three.
    jobs = {"a": (1.0, 0.3, 0.05), "b": (1.1, 0.2, 0.06), "c": (1.2, 0.1, 0.04)}
    for name, (rmse, accuracy, ndcg) in jobs.items():
        with mlflow.start_run(run_name=name):
            mlflow.log_params({"loss.rating_weight": 1.0, "loss.retrieval_weight": 1.0})
            mlflow.log_metrics(
                {"test/rmse": rmse, "test/top_100_accuracy": accuracy, "test/ndcg_at_10": ndcg}
            )
    capsys.readouterr()
    flags = [
        "--pareto",
        "test/rmse:min",
        "--pareto",
        "test/top_100_accuracy:max",
        "--pareto",
        "test/ndcg_at_10:max",
    ]
    code, out, err = run(capsys, "--experiment", "three", "--tracking-uri", uri, *flags)
    assert code == 0, err
    assert out.endswith(
        "Pareto set (min test/rmse / max test/top_100_accuracy / max test/ndcg_at_10):\n"
        "- a: test/rmse=1.0000, test/top_100_accuracy=0.3000, test/ndcg_at_10=0.0500\n"
        "- b: test/rmse=1.1000, test/top_100_accuracy=0.2000, test/ndcg_at_10=0.0600\n"
    )
    code, out, _ = run(capsys, "--experiment", "three", "--tracking-uri", uri, *flags[:4])
    assert code == 0 and out.endswith(
        "max test/top_100_accuracy):\n- a: test/rmse=1.0000, test/top_100_accuracy=0.3000\n"
    )
