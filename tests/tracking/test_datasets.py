"""A run's splits as MLflow dataset inputs: found by name, context and digest; digests follow the rows."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pytest

from mtrec.tracking import connect
from mtrec.tracking.datasets import SplitInput, digest, log_datasets


def split(name: str, context: str, ratings: list[float], **kwargs) -> SplitInput:
    columns = {
        "user_index": np.array([1, 2, 3][: len(ratings)], dtype=np.int32),
        "rating": np.array(ratings, dtype=np.float32),
    }
    return SplitInput(name=name, context=context, columns=columns, source="/data/ml-100k", **kwargs)


def test_runs_are_found_by_the_data_they_used(tmp_path: Path) -> None:
    experiment = connect.use_experiment(f"sqlite:///{tmp_path / 'mlflow.db'}", "data").experiment_id
    train = split("ml-train", "training", [1, 2, 3], is_path=True, profile={"num_users": 3})
    test = split("ml-test", "test", [4, 5])
    other = split("ml-train", "training", [1, 2, 4], is_path=True)
    client = mlflow.MlflowClient()
    first, second = (client.create_run(experiment).info.run_id for _ in range(2))
    log_datasets(first, [train, test])
    log_datasets(second, [other])

    def found(where: str) -> list[str]:
        runs = mlflow.search_runs(experiment_ids=[experiment], filter_string=where, output_format="list")
        return sorted(r.info.run_id for r in runs)

    assert found("dataset.name = 'ml-train' and dataset.context = 'training'") == sorted([first, second])
    assert found("dataset.context = 'test'") == [first]
    train_digest = digest(train.columns.values())
    assert found(f"dataset.digest = '{train_digest}'") == [first]
    [logged, _] = client.get_run(first).inputs.dataset_inputs
    assert (logged.dataset.name, logged.dataset.digest, logged.dataset.source_type) == (
        "ml-train",
        train_digest,
        "local",
    )
    assert json.loads(logged.dataset.source) == {"uri": "/data/ml-100k"}
    assert json.loads(logged.dataset.profile) == {"num_rows": 3, "num_users": 3}
    assert [c["type"] for c in json.loads(logged.dataset.schema)["mlflow_colspec"]] == ["integer", "float"]
    assert [(t.key, t.value) for t in logged.tags] == [("mlflow.data.context", "training")]


def test_the_digest_covers_every_row_and_the_vocabularies() -> None:
    rows = np.arange(100_000, dtype=np.int64)
    changed = rows.copy()
    changed[-1] = -1  # beyond the 10,000 rows MLflow's own pandas digest looks at
    assert digest([rows]) != digest([changed])
    assert digest([rows, np.array(["a", "b"])]) != digest([rows, np.array(["a", "c"])])
    assert digest([rows.astype(np.int32)]) != digest([rows])
    assert len(digest([rows])) == 8 and digest([rows]) == digest([rows.copy()])


def test_a_dataset_another_run_inserted_first_is_logged_on_retry(tmp_path: Path, monkeypatch) -> None:
    # The race in a parallel sweep: both jobs look the dataset up, miss it, and insert it; the second
    # insert breaks MLflow's unique key. Here the first call fails with that real error (a duplicate
    # row inserted into the real store's table), as if the other job had won.
    import sqlalchemy
    from mlflow.exceptions import MlflowException

    db = tmp_path / "mlflow.db"
    experiment = connect.use_experiment(f"sqlite:///{db}", "data").experiment_id
    train = split("ml-train", "training", [1, 2, 3], is_path=True)
    client = mlflow.MlflowClient()
    winner, loser = (client.create_run(experiment).info.run_id for _ in range(2))
    log_datasets(winner, [train])
    engine = sqlalchemy.create_engine(f"sqlite:///{db}")
    try:
        with engine.begin() as connection:
            connection.execute(
                sqlalchemy.text(
                    "INSERT INTO datasets (dataset_uuid, experiment_id, name, digest, dataset_source_type, "
                    "dataset_source) SELECT 'x', experiment_id, name, digest, dataset_source_type, "
                    "dataset_source FROM datasets"
                )
            )
    except sqlalchemy.exc.IntegrityError as e:
        duplicate = MlflowException(str(e))
    engine.dispose()
    real = mlflow.MlflowClient.log_inputs
    calls = []

    def racing(self, run_id, datasets=None, models=None):
        calls.append(run_id)
        if len(calls) == 1:
            raise duplicate
        return real(self, run_id, datasets=datasets, models=models)

    monkeypatch.setattr(mlflow.MlflowClient, "log_inputs", racing)
    log_datasets(loser, [train])
    assert calls == [loser, loser]
    [logged] = client.get_run(loser).inputs.dataset_inputs
    assert logged.dataset.digest == digest(train.columns.values())


def test_other_integrity_errors_are_not_retried(monkeypatch) -> None:
    from mlflow.exceptions import MlflowException

    calls = []

    def failing(self, run_id, datasets=None, models=None):
        calls.append(run_id)
        raise MlflowException("UNIQUE constraint failed: inputs.input_uuid")

    monkeypatch.setattr(mlflow.MlflowClient, "log_inputs", failing)
    with pytest.raises(MlflowException, match="inputs.input_uuid"):
        log_datasets("run", [split("ml-train", "training", [1.0])])
    assert calls == ["run"]
