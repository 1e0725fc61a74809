"""Everything MLflow: a run's lifecycle, params, tags, per-epoch metrics and artifacts.

A run ends FINISHED when its body returns, KILLED on Ctrl-C and FAILED on any other exception,
so no run is ever left RUNNING behind a dead process.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import mlflow
from mlflow.entities import RunStatus

import mtrec
from mtrec.config import TrackingConfig


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
    """What training sees of a run: metric logging only."""

    def __init__(self, run_id: str | None) -> None:
        self.run_id = run_id

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        if self.run_id is not None:
            mlflow.log_metrics(dict(metrics), step=step, run_id=self.run_id)


@contextlib.contextmanager
def start_run(
    cfg: TrackingConfig,
    *,
    run_name: str,
    params: Mapping[str, str],
    tags: Mapping[str, str],
) -> Iterator[RunLogger]:
    """Opens an MLflow run (or a no-op logger when tracking is off) and always closes it.

    Args:
      cfg: tracking settings (store URI, experiment name, on/off).
      run_name: the run's display name.
      params: flattened, resolved config (dot keys).
      tags: free-form tags; mtrec's version and the git commit are added here.
    """
    if not cfg.enabled:
        yield RunLogger(None)
        return
    mlflow.set_tracking_uri(cfg.uri)
    mlflow.set_experiment(cfg.experiment)
    all_tags = {"mtrec.version": mtrec.__version__, **tags}
    commit = git_commit()
    if commit:
        all_tags["mlflow.source.git.commit"] = commit
    run = mlflow.start_run(run_name=run_name, tags=all_tags)
    status = RunStatus.to_string(RunStatus.FAILED)
    try:
        mlflow.log_params(dict(params))
        yield RunLogger(run.info.run_id)
        status = RunStatus.to_string(RunStatus.FINISHED)
    except KeyboardInterrupt:
        status = RunStatus.to_string(RunStatus.KILLED)
        raise
    except BaseException as e:
        mlflow.set_tag("mtrec.error", f"{type(e).__name__}: {e}"[:5000])
        raise
    finally:
        mlflow.end_run(status=status)


def log_artifacts(logger: RunLogger, output_dir: Path) -> None:
    """Logs the run's output folder (resolved config, Hydra's .hydra/, metrics.json)."""
    if logger.run_id is None:
        return
    for name in ("config.yaml", "metrics.json"):
        if (output_dir / name).is_file():
            mlflow.log_artifact(str(output_dir / name), run_id=logger.run_id)
    if (output_dir / ".hydra").is_dir():
        mlflow.log_artifacts(str(output_dir / ".hydra"), artifact_path=".hydra", run_id=logger.run_id)
