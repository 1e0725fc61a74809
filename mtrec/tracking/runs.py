"""A run's lifecycle in MLflow: params, tags, per-epoch metrics and artifacts.

A run ends FINISHED when its body returns, KILLED on Ctrl-C and FAILED on any other exception,
so no run is ever left RUNNING behind a live process. While it is open it records where it runs
and keeps a heartbeat; a run whose process was killed is ended KILLED by the next mtrec command
that opens the store (:mod:`mtrec.tracking.liveness`), or by its sweep (:mod:`mtrec.tracking.sweeps`).
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import mlflow
from mlflow.entities import RunStatus, RunTag

import mtrec
from mtrec.tracking.datasets import SplitInput, log_datasets
from mtrec.tracking.liveness import Heartbeat, process_tags
from mtrec.tracking.store import is_locked_store_error, retry_locked

RUN_STATUS_FINISHED = RunStatus.to_string(RunStatus.FINISHED)


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


def default_run_name(weights: Mapping[str, float]) -> str:
    """Each task's weight, in order: "rating=1 retrieval=0.5"."""
    return " ".join(f"{name}={weight:g}" for name, weight in weights.items())


def git_commit(cwd: Path | None = None) -> str | None:
    """The commit of the working directory's git checkout, or None outside one."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


class RunLogger:
    """What a job sees of its run: metrics and tags (no-ops without a run: tracking is off)."""

    def __init__(self, run_id: str | None) -> None:
        self.run_id = run_id

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        if self.run_id is not None:
            retry_locked(mlflow.log_metrics, dict(metrics), step=step, run_id=self.run_id)

    def log_datasets(self, splits: Sequence[SplitInput]) -> None:
        """Logs the run's data as MLflow dataset inputs (:mod:`mtrec.tracking.datasets`)."""
        if self.run_id is not None:
            log_datasets(self.run_id, splits)

    def set_tags(self, tags: Mapping[str, str]) -> None:
        if self.run_id is not None:
            retry_locked(
                mlflow.MlflowClient().log_batch, self.run_id, tags=[RunTag(k, v) for k, v in tags.items()]
            )


@contextlib.contextmanager
def start_run(
    experiment_id: str,
    *,
    run_name: str,
    params: Mapping[str, str],
    tags: Mapping[str, str],
    parent_run_id: str | None = None,
) -> Iterator[RunLogger]:
    """Opens an MLflow run in the current store and always closes it.

    Args:
      experiment_id: the experiment (see :func:`mtrec.tracking.connect.use_experiment`).
      run_name: the run's display name.
      params: flattened, resolved config (dot keys).
      tags: free-form tags; mtrec's version, the git commit and where the run lives
        (:func:`mtrec.tracking.liveness.process_tags`) are added here.
      parent_run_id: the sweep's parent run, for a job of a multirun.
    """
    all_tags = {"mtrec.version": mtrec.__version__, **process_tags(), **tags}
    commit = git_commit()
    if commit:
        all_tags["mlflow.source.git.commit"] = commit
    run = retry_locked(
        mlflow.start_run,
        experiment_id=experiment_id,
        run_name=run_name,
        tags=all_tags,
        parent_run_id=parent_run_id,
    )
    logger = RunLogger(run.info.run_id)
    status = RunStatus.to_string(RunStatus.FAILED)
    heartbeat = Heartbeat(run.info.run_id).start()
    try:
        retry_locked(mlflow.log_params, dict(params))
        yield logger
        status = RUN_STATUS_FINISHED
    except KeyboardInterrupt:
        status = RunStatus.to_string(RunStatus.KILLED)
        raise
    except BaseException as e:
        logger.set_tags({"mtrec.error": f"{type(e).__name__}: {e}"[:5000]})
        raise
    finally:
        heartbeat.stop()
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
