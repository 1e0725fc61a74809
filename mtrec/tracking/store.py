"""Which MLflow store and experiment, what goes wrong with one, and waiting out a locked SQLite one.

:func:`resolve_target` is the one place that decides where runs go (an explicit value, else
MLflow's own environment variables, else ``sqlite:///mlflow.db`` and ``mtrec``); every command
calls it. A store that cannot be used is a :class:`StoreError`, one line naming the store
(:mod:`mtrec.tracking.connect` opens stores). Writes wait out a locked SQLite store
(:func:`retry_locked`), so parallel jobs on one ``sqlite:///`` file lose nothing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

DEFAULT_URI = "sqlite:///mlflow.db"
"""The store when neither ``tracking.uri`` (``--tracking-uri``) nor ``MLFLOW_TRACKING_URI`` names
one: MLflow's embedded SQLite file in the working directory."""
DEFAULT_EXPERIMENT = "mtrec"
"""The experiment when neither ``tracking.experiment`` nor ``MLFLOW_EXPERIMENT_NAME`` names one."""
# Opening a store is a probe: a server that is down or refuses should fail in seconds, not after
# MLflow's minutes of retries (7 retries with backoff, 120 s a request). Later calls keep MLflow's.
PROBE_TIMEOUT_SECONDS = 10

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


class StoreError(RuntimeError):
    """A store that cannot be used (unreadable, unreachable, refusing); the message is one line
    naming the store."""


@dataclass(frozen=True)
class Target:
    """Where runs are recorded: an MLflow tracking URI and an experiment name."""

    uri: str
    experiment: str


def resolve_target(uri: str | None = None, experiment: str | None = None) -> Target:
    """The store and experiment a command uses; the one place that decides.

    Precedence, for each of the two: the value given (``tracking.uri`` / ``tracking.experiment``,
    or a command's ``--tracking-uri``), else MLflow's environment variable
    (``MLFLOW_TRACKING_URI``, ``MLFLOW_EXPERIMENT_NAME``), else :data:`DEFAULT_URI` /
    :data:`DEFAULT_EXPERIMENT`. An empty value counts as not given.

    Raises:
      StoreError: a URI with a password in it (``http://user:secret@host``): mtrec would write it
        to Hydra's output folder and the run's tags; MLflow's ``MLFLOW_TRACKING_USERNAME`` and
        ``MLFLOW_TRACKING_PASSWORD`` (or ``MLFLOW_TRACKING_TOKEN``) carry credentials instead.
    """
    chosen = uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_URI
    if urllib.parse.urlsplit(chosen).password is not None:
        raise StoreError(
            f"the tracking URI {redact(chosen)} has a password in it; remove it and set "
            "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN) instead"
        )
    return Target(chosen, experiment or os.environ.get("MLFLOW_EXPERIMENT_NAME") or DEFAULT_EXPERIMENT)


def redact(uri: str) -> str:
    """The URI with any password in it replaced by ``***``."""
    parts = urllib.parse.urlsplit(uri)
    if parts.password is None:
        return uri
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


@contextlib.contextmanager
def fail_fast() -> Iterator[None]:
    """MLflow's HTTP calls without retries, each waiting at most PROBE_TIMEOUT_SECONDS, unless the
    user set those variables."""
    keys = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": str(PROBE_TIMEOUT_SECONDS)}
    added = [key for key in keys if key not in os.environ]
    os.environ.update({key: keys[key] for key in added})
    try:
        yield
    finally:
        for key in added:
            os.environ.pop(key, None)


def describe_store_error(uri: str, error: BaseException) -> str:
    """One line saying why the store at ``uri`` cannot be used, and what to do."""
    text = " ".join(str(error).split())
    if re.search(
        r"error code 40[13]\b|not authenticated|unauthorized|permission denied", text, re.IGNORECASE
    ):
        return (
            f"the MLflow server at {uri} refused mtrec's credentials ({text[:160]}); set "
            "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN)"
        )
    if uri.startswith("sqlite:"):
        return (
            f"cannot read the MLflow store {uri}: {type(error).__name__}: {text[:200]} "
            "(a corrupt or foreign file? move it away, or pass another tracking.uri)"
        )
    # requests' "Max retries exceeded ... (Caused by ReadTimeoutError(...: Read timed out.))": the cause.
    cause = re.search(r"\(Caused by (\w+)\([\"']?.*?: (.*?)[\"']?\)\)$", text)
    if cause:
        return f"cannot reach the MLflow store at {uri}: {cause[1]}: {cause[2][:200]}"
    return f"cannot reach the MLflow store at {uri}: {type(error).__name__}: {text[:200]}"


def missing_sqlite_store(uri: str) -> Path | None:
    """The file of a ``sqlite:///`` URI when it does not exist (MLflow would create it empty).

    A query (``?timeout=60``) is not part of the file's name; an in-memory database has no file.
    """
    if not uri.startswith("sqlite:///"):
        return None
    path = Path(uri.removeprefix("sqlite:///").split("?", 1)[0])
    return None if path.name in ("", ":memory:") or path.is_file() else path
