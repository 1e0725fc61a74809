"""Everything MLflow: a run's lifecycle, params, tags, per-epoch metrics and artifacts.

A run ends FINISHED when its body returns, KILLED on Ctrl-C and FAILED on any other exception,
so no run is ever left RUNNING behind a live process (a killed process's run is closed by the
sweep, see ``mtrec.sweeps``). Writes wait out a locked SQLite store (:func:`retry_locked`), so
parallel jobs on one ``sqlite:///`` file lose nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import mlflow
from mlflow.entities import Experiment, Metric, Param, Run, RunStatus, RunTag

import mtrec
from mtrec import heap, stores
from mtrec.config import TrackingConfig

RUN_STATUS_FINISHED = RunStatus.to_string(RunStatus.FINISHED)
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


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """{"loss": {"rating_weight": 1.0}} -> {"loss.rating_weight": "1.0"}; lists stay one value."""
    flat: dict[str, str] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, prefix=f"{name}."))
        else:
            flat[name] = str(value)
    return flat


def missing_sqlite_store(uri: str) -> Path | None:
    """The file of a ``sqlite:///`` URI when it does not exist (MLflow would create it empty).

    A query (``?timeout=60``) is not part of the file's name; an in-memory database has no file.
    """
    if not uri.startswith("sqlite:///"):
        return None
    path = Path(uri.removeprefix("sqlite:///").split("?", 1)[0])
    return None if path.name in ("", ":memory:") or path.is_file() else path


def default_run_name(rating_weight: float, retrieval_weight: float) -> str:
    return f"rating={rating_weight:g} retrieval={retrieval_weight:g}"


def git_commit(cwd: Path | None = None) -> str | None:
    """The commit of the working directory's git checkout, or None outside one."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


class RunLogger:
    """What a job sees of its run: metrics and tags (no-ops when tracking is off)."""

    def __init__(self, run_id: str | None) -> None:
        self.run_id = run_id

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        if self.run_id is not None:
            retry_locked(mlflow.log_metrics, dict(metrics), step=step, run_id=self.run_id)

    def set_tags(self, tags: Mapping[str, str]) -> None:
        if self.run_id is not None:
            retry_locked(
                mlflow.MlflowClient().log_batch, self.run_id, tags=[RunTag(k, v) for k, v in tags.items()]
            )


_opened_a_store = False


def use_experiment(uri: str, experiment: str) -> Experiment:
    """Points MLflow at the store and experiment (created when missing); returns the experiment.

    A new ``sqlite:///`` store is copied from the schema template (``mtrec.stores``), not
    migrated. The process's first store imports MLflow's SQL layer: objects that live as long as
    the process, created out of the garbage collector's sight (``mtrec.heap.long_lived``). Later
    stores (a test's temporary ones) are opened as usual.
    """
    global _opened_a_store
    new_store = missing_sqlite_store(uri)
    if new_store is not None:
        stores.seed(new_store)
    mlflow.set_tracking_uri(uri)
    with contextlib.nullcontext() if _opened_a_store else heap.long_lived():
        found = retry_locked(mlflow.set_experiment, experiment)
    _opened_a_store = True
    return found


@contextlib.contextmanager
def start_run(
    cfg: TrackingConfig,
    *,
    run_name: str,
    params: Mapping[str, str],
    tags: Mapping[str, str],
    parent_run_id: str | None = None,
) -> Iterator[RunLogger]:
    """Opens an MLflow run (or a no-op logger when tracking is off) and always closes it.

    Args:
      cfg: tracking settings (store URI, experiment name, on/off).
      run_name: the run's display name.
      params: flattened, resolved config (dot keys).
      tags: free-form tags; mtrec's version and the git commit are added here.
      parent_run_id: the sweep's parent run, for a job of a multirun.
    """
    if not cfg.enabled:
        yield RunLogger(None)
        return
    use_experiment(cfg.uri, cfg.experiment)
    all_tags = {"mtrec.version": mtrec.__version__, **tags}
    commit = git_commit()
    if commit:
        all_tags["mlflow.source.git.commit"] = commit
    run = retry_locked(mlflow.start_run, run_name=run_name, tags=all_tags, parent_run_id=parent_run_id)
    logger = RunLogger(run.info.run_id)
    status = RunStatus.to_string(RunStatus.FAILED)
    try:
        retry_locked(mlflow.log_params, dict(params))
        yield logger
        status = RunStatus.to_string(RunStatus.FINISHED)
    except KeyboardInterrupt:
        status = RunStatus.to_string(RunStatus.KILLED)
        raise
    except BaseException as e:
        logger.set_tags({"mtrec.error": f"{type(e).__name__}: {e}"[:5000]})
        raise
    finally:
        try:
            mlflow.end_run(status=status)  # pops MLflow's active run first, then writes the status
        except Exception as e:
            if not is_locked_store_error(e):
                raise
            retry_locked(mlflow.MlflowClient().set_terminated, run.info.run_id, status=status)


def log_artifacts(logger: RunLogger, output_dir: Path) -> None:
    """Logs the run's output folder (resolved config, Hydra's .hydra/, metrics.json)."""
    if logger.run_id is None:
        return
    for name in ("config.yaml", "metrics.json"):
        if (output_dir / name).is_file():
            retry_locked(mlflow.log_artifact, str(output_dir / name), run_id=logger.run_id)
    if (output_dir / ".hydra").is_dir():
        retry_locked(
            mlflow.log_artifacts, str(output_dir / ".hydra"), artifact_path=".hydra", run_id=logger.run_id
        )


# Keys that change where or how a run is recorded, not what it computes.
_NOT_FINGERPRINTED = ("tracking", "sweep", "objectives", "dry_run", "trainer.verbose")


def fingerprint(resolved: Mapping[str, Any]) -> str:
    """A stable hash of what a run computes: the resolved config minus tracking/reporting keys."""
    flat = {
        k: v
        for k, v in flatten(resolved).items()
        if not any(k == skip or k.startswith(f"{skip}.") for skip in _NOT_FINGERPRINTED)
    }
    return hashlib.sha256(json.dumps(flat, sort_keys=True).encode()).hexdigest()[:16]


def find_finished(cfg: TrackingConfig, config_fingerprint: str) -> Run | None:
    """The newest FINISHED run of the experiment with this config fingerprint, if any."""
    mlflow.set_tracking_uri(cfg.uri)
    if retry_locked(mlflow.get_experiment_by_name, cfg.experiment) is None:
        return None
    runs = retry_locked(
        mlflow.search_runs,
        experiment_names=[cfg.experiment],
        filter_string=f"tags.`mtrec.fingerprint` = '{config_fingerprint}' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
        output_format="list",
    )
    return runs[0] if runs else None


def copy_run(source: Run, *, parent_run_id: str, run_name: str, tags: Mapping[str, str]) -> str:
    """Records a finished run again as a child of a sweep, params and metric histories included.

    A resumed sweep's skipped jobs appear this way in its tree and report, tagged
    ``mtrec.resumed_from`` with the original run's id.
    """
    client = mlflow.MlflowClient()
    parent = retry_locked(client.get_run, parent_run_id)
    run = retry_locked(
        client.create_run,
        parent.info.experiment_id,
        run_name=run_name,
        tags={
            **{k: v for k, v in source.data.tags.items() if not k.startswith("mlflow.")},
            **tags,
            "mlflow.parentRunId": parent_run_id,
            # A copy of a copy still points at the run that did the training.
            "mtrec.resumed_from": source.data.tags.get("mtrec.resumed_from", source.info.run_id),
        },
    )
    run_id = run.info.run_id
    metrics = [m for key in source.data.metrics for m in client.get_metric_history(source.info.run_id, key)]
    params = [Param(k, v) for k, v in source.data.params.items()]
    for start in range(0, max(len(metrics), len(params), 1), 100):
        retry_locked(
            client.log_batch,
            run_id,
            metrics=[Metric(m.key, m.value, m.timestamp, m.step) for m in metrics[start : start + 100]],
            params=params[start : start + 100],
        )
    retry_locked(client.set_terminated, run_id, RunStatus.to_string(RunStatus.FINISHED))
    return run_id
