"""A sweep's runs in MLflow: a parent run and its jobs as nested children."""

from __future__ import annotations

import logging

import mlflow
from mlflow.entities import RunStatus

from mtrec.tracking.store import retry_locked

log = logging.getLogger("mtrec")


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
