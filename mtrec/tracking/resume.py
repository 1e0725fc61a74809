"""Config fingerprints, and the finished runs a resumed sweep skips (and records again)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import mlflow
from mlflow.entities import Metric, Param, Run, RunStatus

from mtrec.config.run_keys import defines_run
from mtrec.tracking.liveness import process_tags
from mtrec.tracking.runs import flatten
from mtrec.tracking.store import retry_locked


def fingerprint(resolved: Mapping[str, Any]) -> str:
    """A stable hash of what a run computes: the resolved config minus the keys that do not
    define a run (:mod:`mtrec.config.run_keys`)."""
    flat = {k: v for k, v in flatten(resolved).items() if defines_run(k)}
    return hashlib.sha256(json.dumps(flat, sort_keys=True).encode()).hexdigest()[:16]


def find_finished(uri: str, experiment: str, config_fingerprint: str) -> Run | None:
    """The newest FINISHED run of the experiment with this config fingerprint, if any; a run an
    Optuna pruner stopped (tag ``mtrec.pruned``) does not count."""
    mlflow.set_tracking_uri(uri)
    if retry_locked(mlflow.get_experiment_by_name, experiment) is None:
        return None
    runs = retry_locked(
        mlflow.search_runs,
        experiment_names=[experiment],
        filter_string=f"tags.`mtrec.fingerprint` = '{config_fingerprint}' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
        max_results=20,
        output_format="list",
    )
    return next((r for r in runs if r.data.tags.get("mtrec.pruned") != "true"), None)


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
            # The copy lives, briefly RUNNING, in this process, not in the original's (long gone).
            **process_tags(),
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
