"""New SQLite stores from the schema template: MLflow's own schema, never a half-written file."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import mlflow
import pytest

from mtrec.tracking import connect
from mtrec.tracking import store as tracking
from mtrec.tracking import template as stores


def schema(db: Path) -> list[tuple]:
    """Every table, index and constraint of a SQLite file, and its alembic revision.

    A table's clauses are compared as a set: MLflow's own migrations write a recreated table's
    CHECK constraints in an order that varies from process to process (string hashing).
    """
    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name")
        objects = [
            (*row[:3], sorted(line.strip().rstrip(",") for line in (row[3] or "").splitlines()))
            for row in rows
        ]
        revision = con.execute("SELECT version_num FROM alembic_version").fetchall()
    return [*objects, ("alembic_version", *revision)]


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MTREC_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_seeded_store_is_the_store_mlflow_creates(tmp_path: Path, cache: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    migrated = tmp_path / "migrated.db"
    mlflow.set_tracking_uri(f"sqlite:///{migrated}")  # MLflow's own way: every migration in turn
    mlflow.set_experiment("mtrec")

    seeded = tmp_path / "seeded.db"
    assert stores.seed(seeded)
    assert stores.template_path().parent == cache and stores.template_path().is_file()
    assert schema(seeded) == schema(migrated)
    assert not list(tmp_path.glob(".*.partial")) and not list(cache.glob(".*.partial"))

    # MLflow opens the copy as its own and creates the default experiment for this process.
    experiment = connect.use_experiment(f"sqlite:///{seeded}", "mtrec")
    with mlflow.start_run(experiment_id=experiment.experiment_id) as run:
        mlflow.log_metric("m", 1.0)
    assert mlflow.get_run(run.info.run_id).data.metrics == {"m": 1.0}
    assert mlflow.get_experiment("0").artifact_location == str(tmp_path / "mlruns" / "0")


def test_seed_leaves_existing_and_unplaceable_stores_alone(tmp_path: Path, cache: Path) -> None:
    existing = tmp_path / "existing.db"
    existing.write_bytes(b"not mine to replace")
    assert not stores.seed(existing)
    assert existing.read_bytes() == b"not mine to replace"

    assert not stores.seed(tmp_path / "no-such-folder" / "mlflow.db")
    assert not (tmp_path / "no-such-folder").exists()


def test_seed_never_replaces_a_store_created_meanwhile(tmp_path: Path, cache: Path, monkeypatch) -> None:
    store = tmp_path / "raced.db"
    copy = shutil.copyfile

    def copy_while_another_process_creates_the_store(src, dst):
        store.write_bytes(b"the other process's store")
        return copy(src, dst)

    monkeypatch.setattr(stores.shutil, "copyfile", copy_while_another_process_creates_the_store)
    assert not stores.seed(store)
    assert store.read_bytes() == b"the other process's store"
    assert not list(tmp_path.glob(".*.partial"))


def test_unusable_cache_leaves_the_store_to_mlflow(tmp_path: Path, monkeypatch) -> None:
    not_a_folder = tmp_path / "cache-file"
    not_a_folder.write_text("")
    monkeypatch.setenv("MTREC_CACHE_DIR", str(not_a_folder))
    store = tmp_path / "mlflow.db"
    assert not stores.seed(store)
    assert not store.exists() and not list(tmp_path.glob(".*.partial"))
    connect.use_experiment(f"sqlite:///{store}", "mtrec")  # MLflow migrates it itself
    assert mlflow.get_experiment_by_name("mtrec") is not None


def test_a_uri_query_or_an_in_memory_database_names_no_file(tmp_path: Path, cache: Path) -> None:
    assert tracking.missing_sqlite_store(f"sqlite:///{tmp_path}/q.db?timeout=60") == tmp_path / "q.db"
    assert tracking.missing_sqlite_store("sqlite:///:memory:") is None
    connect.use_experiment(f"sqlite:///{tmp_path}/q.db?timeout=60", "mtrec")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "q.db"]
    assert schema(tmp_path / "q.db") == schema(stores.template_path())
