"""A Hydra multirun as one MLflow object: a parent run, its jobs as nested children, a report.

:class:`SweepCallback` is a Hydra callback (``hydra.callbacks`` in ``conf/config.yaml``). When a
multirun starts it opens the parent run and writes its id into the sweep folder, where every job
(in this process or in a launcher's worker) finds it. When the multirun ends it writes the sweep
report, closes the parent FINISHED only if every job finished, and exits non-zero otherwise.

A job whose worker process died (SIGKILL, the OOM killer, a lost Ray node) cannot close its own
run. Once the launcher has returned, no job is alive, so the callback marks every child still
RUNNING as KILLED. Ray retries such a job on another worker (its tasks' ``max_retries``); the
report then counts the job's last run, and the dead attempt stays in MLflow, KILLED.
"""

from __future__ import annotations

import atexit
import json
import logging
import sys
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import mlflow
from hydra.experimental.callback import Callback
from mlflow.entities import RunStatus
from omegaconf import DictConfig

from mtrec.tracking import retry_locked, use_experiment

log = logging.getLogger("mtrec")
STATE_FILE = "mtrec_sweep.json"


def read_state(sweep_dir: str | Path) -> dict[str, str] | None:
    """The sweep's parent run id and sweep id, or None when no parent was opened (tracking off)."""
    path = Path(sweep_dir) / STATE_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def child_runs(parent_run_id: str):
    """The jobs of a sweep, as an ``mlflow.search_runs`` DataFrame (oldest first)."""
    parent = mlflow.get_run(parent_run_id)
    return mlflow.search_runs(
        experiment_ids=[parent.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent_run_id}'",
        order_by=["attributes.start_time ASC"],
    )


def close_orphaned_children(parent_run_id: str) -> list[str]:
    """Marks the children still RUNNING KILLED; call only when no job of the sweep is alive.

    Returns:
      The ids of the runs it closed.
    """
    client = mlflow.MlflowClient()
    running = retry_locked(child_runs, parent_run_id)
    running = running[running["status"] == "RUNNING"] if len(running) else running
    for _, run in running.iterrows():
        pid = run.get("tags.mtrec.worker_pid") or "?"
        reason = f"WorkerDied: the job's process (pid {pid}) died; its run was RUNNING when the sweep ended"
        retry_locked(client.set_tag, run["run_id"], "mtrec.error", reason)
        retry_locked(client.set_terminated, run["run_id"], status=RunStatus.to_string(RunStatus.KILLED))
        log.error(f"mtrec: job {run.get('tags.mtrec.job_num')}: {reason}; marked KILLED")
    return list(running["run_id"]) if len(running) else []


class SweepCallback(Callback):
    """Opens and closes a multirun's parent run and writes its report."""

    def __init__(self) -> None:
        self.parent_run_id: str | None = None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        if not config.tracking.enabled:
            return
        sweep_dir = Path(config.hydra.sweep.dir)
        sweep_id = f"{datetime.now():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
        experiment = use_experiment(config.tracking.uri, config.tracking.experiment)
        overrides = " ".join(config.hydra.overrides.task)
        run = retry_locked(
            mlflow.MlflowClient().create_run,
            experiment.experiment_id,
            run_name=f"sweep {sweep_id}",
            tags={
                "mtrec.role": "sweep",
                "mtrec.sweep_id": sweep_id,
                "mtrec.sweep_overrides": overrides,
                "mtrec.sweep_dir": str(sweep_dir),
            },
        )
        self.parent_run_id = run.info.run_id
        sweep_dir.mkdir(parents=True, exist_ok=True)
        state = {
            "parent_run_id": self.parent_run_id,
            "sweep_id": sweep_id,
            "tracking_uri": config.tracking.uri,
        }
        (sweep_dir / STATE_FILE).write_text(json.dumps(state))
        # Hydra skips on_multirun_end when the sweep raises (Ctrl-C, a launcher error); the
        # parent must not stay RUNNING then.
        atexit.register(self._close_if_open, RunStatus.to_string(RunStatus.KILLED))
        log.info(f"sweep {sweep_id}: MLflow parent run {self.parent_run_id}")

    def _close_if_open(self, status: str) -> None:
        if self.parent_run_id is None:
            return
        close_orphaned_children(self.parent_run_id)
        client = mlflow.MlflowClient()
        if retry_locked(client.get_run, self.parent_run_id).info.status == "RUNNING":
            retry_locked(client.set_terminated, self.parent_run_id, status=status)
        self.parent_run_id = None

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if self.parent_run_id is None:
            return
        from mtrec import report  # matplotlib and pandas load only when a report is due.

        parent_run_id = self.parent_run_id
        try:
            close_orphaned_children(parent_run_id)
            sweep = report.load_sweep([parent_run_id])
            files = report.write_report(sweep, Path(config.hydra.sweep.dir), config.sweep.pareto)
            for path in files:
                mlflow.MlflowClient().log_artifact(parent_run_id, str(path))
            log.info(report.summary_markdown(sweep, config.sweep.pareto))
            failed = sweep.failed_jobs()
        except BaseException:
            self._close_if_open(RunStatus.to_string(RunStatus.FAILED))
            raise
        if failed:
            self._close_if_open(RunStatus.to_string(RunStatus.FAILED))
            print(
                f"mtrec: {len(failed)} of {sweep.num_jobs} jobs failed: {', '.join(failed)}", file=sys.stderr
            )
            sys.exit(1)
        self._close_if_open(RunStatus.to_string(RunStatus.FINISHED))
