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
