"""Everything MLflow: a run's lifecycle, params, tags, per-epoch metrics and artifacts.

A run ends FINISHED when its body returns, KILLED on Ctrl-C and FAILED on any other exception,
so no run is ever left RUNNING behind a dead process.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import mlflow
from mlflow.entities import Metric, Param, Run, RunStatus

import mtrec
from mtrec.config import TrackingConfig

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


def missing_sqlite_store(uri: str) -> Path | None:
    """The file of a ``sqlite:///`` URI when it does not exist (MLflow would create it empty)."""
    if not uri.startswith("sqlite:///"):
        return None
    path = Path(uri.removeprefix("sqlite:///"))
    return None if path.is_file() else path


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
    mlflow.set_tracking_uri(cfg.uri)
    mlflow.set_experiment(cfg.experiment)
    all_tags = {"mtrec.version": mtrec.__version__, **tags}
    commit = git_commit()
    if commit:
        all_tags["mlflow.source.git.commit"] = commit
    run = mlflow.start_run(run_name=run_name, tags=all_tags, parent_run_id=parent_run_id)
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
    if mlflow.get_experiment_by_name(cfg.experiment) is None:
        return None
    runs = mlflow.search_runs(
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
    parent = client.get_run(parent_run_id)
    run = client.create_run(
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
        client.log_batch(
            run_id,
            metrics=[Metric(m.key, m.value, m.timestamp, m.step) for m in metrics[start : start + 100]],
            params=params[start : start + 100],
        )
    client.set_terminated(run_id, RunStatus.to_string(RunStatus.FINISHED))
    return run_id
