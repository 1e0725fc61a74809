"""Opening an MLflow store, and waiting out a locked SQLite one.

Writes wait out a locked SQLite store (:func:`retry_locked`), so parallel jobs on one
``sqlite:///`` file lose nothing. A new ``sqlite:///`` store is copied from a schema template
(:mod:`mtrec.tracking.template`) instead of being migrated.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import mlflow
from mlflow.entities import Experiment

from mtrec.tracking import template

# MLflow's SQLite store waits 20 s for a lock (PRAGMA busy_timeout), then raises "database is
# locked"; parallel jobs on a loaded machine, or `mlflow ui` scanning a big store, can hold it
# longer. mtrec retries such a call for up to this long: the failed transaction was rolled back.
LOCKED_STORE_PATIENCE_SECONDS = 600.0
log = logging.getLogger("mtrec")
T = TypeVar("T")


def is_locked_store_error(error: BaseException) -> bool:
    """Whether an MLflow call failed because its SQLite store was locked (cause chain included)."""
    seen: BaseException | None = error
    while seen is not None:
        if "database is locked" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def retry_locked(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``call(*args, **kwargs)``, retried with backoff while the SQLite store is locked."""
    deadline = time.monotonic() + LOCKED_STORE_PATIENCE_SECONDS
    delay = 0.5
    while True:
        try:
            return call(*args, **kwargs)
        except Exception as e:
            if not is_locked_store_error(e) or time.monotonic() + delay > deadline:
                raise
            name = getattr(call, "__name__", "MLflow call")
            log.warning(f"mtrec: MLflow store locked during {name}; retrying in {delay:g} s")
            time.sleep(delay)
            delay = min(2 * delay, 8.0)


def missing_sqlite_store(uri: str) -> Path | None:
    """The file of a ``sqlite:///`` URI when it does not exist (MLflow would create it empty).

    A query (``?timeout=60``) is not part of the file's name; an in-memory database has no file.
    """
    if not uri.startswith("sqlite:///"):
        return None
    path = Path(uri.removeprefix("sqlite:///").split("?", 1)[0])
    return None if path.name in ("", ":memory:") or path.is_file() else path


def use_experiment(uri: str, experiment: str) -> Experiment:
    """Points MLflow at the store and experiment (created when missing); returns the experiment.

    A new ``sqlite:///`` store is copied from the schema template, not migrated.
    """
    new_store = missing_sqlite_store(uri)
    if new_store is not None:
        template.seed(new_store)
    mlflow.set_tracking_uri(uri)
    return retry_locked(mlflow.set_experiment, experiment)
