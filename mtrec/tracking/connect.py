"""Opening a store: check that it answers, end the runs whose process died, open the experiment.

Every command opens its store through :func:`open_store` (``mtrec`` through
:func:`use_experiment`), so a store that cannot be used stops it in one line before any work, and
no run stays RUNNING after its process is gone (:mod:`mtrec.tracking.liveness`). A new
``sqlite:///`` store is copied from a schema template (:mod:`mtrec.tracking.template`) instead of
being migrated.
"""

from __future__ import annotations

import mlflow
from mlflow.entities import Experiment

from mtrec.tracking import liveness, template
from mtrec.tracking.store import (
    StoreError,
    describe_store_error,
    fail_fast,
    missing_sqlite_store,
    retry_locked,
)


def open_store(uri: str) -> None:
    """Points MLflow at the store, checks that it answers, and ends the runs left RUNNING by
    processes that died (:func:`mtrec.tracking.liveness.end_dead_runs`).

    A new ``sqlite:///`` store is copied from the schema template, not migrated.

    Raises:
      StoreError: an unreadable or corrupt SQLite file, a server that refuses (credentials), is
        down or does not answer within ``store.PROBE_TIMEOUT_SECONDS``.
    """
    new_store = missing_sqlite_store(uri)
    if new_store is not None:
        template.seed(new_store)
    mlflow.set_tracking_uri(uri)
    try:
        with fail_fast():
            retry_locked(mlflow.MlflowClient().search_experiments, max_results=1)
    except Exception as e:  # requests, SQLAlchemy and MLflow errors all mean the same here
        raise StoreError(describe_store_error(uri, e)) from None
    liveness.end_dead_runs()


def use_experiment(uri: str, experiment: str) -> Experiment:
    """Opens the store (:func:`open_store`) and the experiment (created when missing); returns it.

    Raises:
      StoreError: as :func:`open_store`, or when the experiment cannot be created (a read-only
        store, a user the server lets read only).
    """
    open_store(uri)
    try:
        return retry_locked(mlflow.set_experiment, experiment)
    except Exception as e:
        raise StoreError(describe_store_error(uri, e)) from None
