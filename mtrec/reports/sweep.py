"""A sweep's (or an experiment's) jobs, one row each, read back from MLflow."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import mlflow
import numpy as np
import pandas as pd

from mtrec.config.run_keys import is_shown
from mtrec.tracking.runs import RUN_STATUS_FINISHED
from mtrec.tracking.sweeps import child_runs

# The weights are shown in every report, whether or not they vary.
ALWAYS_SHOWN = ["loss.rating_weight", "loss.retrieval_weight"]
# The training curves a report plots, one panel each.
CURVES = ("train/loss", "train/rating_loss", "train/retrieval_loss")


@dataclass
class Sweep:
    """The jobs of one or more sweeps (or of an experiment), one row each, oldest first."""

    runs: pd.DataFrame
    title: str
    histories: dict[str, dict[str, list[tuple[int, float]]]] = field(default_factory=dict)

    @property
    def num_jobs(self) -> int:
        return len(self.runs)

    def failed_jobs(self) -> list[str]:
        failed = self.runs[self.runs["status"] != RUN_STATUS_FINISHED]
        errors = failed.get("tags.mtrec.error", pd.Series("", index=failed.index)).fillna("")
        return [
            f"{r['job']} ({r['status']}{': ' + e if e else ''})"
            for (_, r), e in zip(failed.iterrows(), errors)
        ]

    def statuses(self) -> pd.Series:
        """Each job's MLflow status, PRUNED for a run an Optuna pruner stopped (tag ``mtrec.pruned``)."""
        pruned = self.runs.get("tags.mtrec.pruned", pd.Series("", index=self.runs.index)) == "true"
        return self.runs["status"].where(~pruned, "PRUNED")

    def swept_keys(self) -> list[str]:
        """The weights, then every run-defining key whose value differs between jobs."""
        params = [c for c in self.runs.columns if c.startswith("params.")]
        varying = [
            c.removeprefix("params.")
            for c in params
            if self.runs[c].astype(str).nunique() > 1 and is_shown(c.removeprefix("params."))
        ]
        return ALWAYS_SHOWN + sorted(k for k in varying if k not in ALWAYS_SHOWN)

    def metric(self, name: str) -> pd.Series:
        column = f"metrics.{name}"
        return self.runs[column] if column in self.runs else pd.Series(math.nan, index=self.runs.index)

    def baselines(self) -> dict[str, float]:
        """Baseline metrics shared by every job that has them (jobs on one split share them)."""
        return {
            c.removeprefix("metrics."): float(values.iloc[0])
            for c, values in self._baseline_columns().items()
            if np.allclose(values, values.iloc[0], rtol=1e-9, atol=0)
        }

    def varying_baselines(self) -> list[str]:
        """Baseline metrics that differ between jobs (their splits differ: dataset, seed, fraction
        of rating labels...); reports show these per job, not as one reference value."""
        shared = self.baselines()
        return [
            c.removeprefix("metrics.")
            for c in self._baseline_columns()
            if c.removeprefix("metrics.") not in shared
        ]

    def _baseline_columns(self) -> dict[str, pd.Series]:
        columns = [c for c in self.runs.columns if c.startswith("metrics.baseline/")]
        return {c: self.runs[c].dropna() for c in columns if self.runs[c].notna().any()}


def _to_sweep(runs: pd.DataFrame, title: str, with_histories: bool) -> Sweep:
    runs = runs.sort_values("start_time", kind="stable").reset_index(drop=True)
    if {"tags.mtrec.sweep_id", "tags.mtrec.job_num"} <= set(runs.columns):
        # A job retried after its worker died (Ray) has several runs; its last one counts.
        job = ["tags.mtrec.sweep_id", "tags.mtrec.job_num"]
        retried = runs[job].notna().all(axis=1) & runs.duplicated(subset=job, keep="last")
        runs = runs[~retried].reset_index(drop=True)
    runs["job"] = runs.get("tags.mlflow.runName", runs["run_id"]).fillna(runs["run_id"])
    sweep = Sweep(runs=runs, title=title)
    if with_histories:
        client = mlflow.MlflowClient()
        for run_id in runs["run_id"]:
            sweep.histories[run_id] = {
                key: [(m.step, m.value) for m in client.get_metric_history(run_id, key)] for key in CURVES
            }
    return sweep


def load_sweep(parent_run_ids: Sequence[str], with_histories: bool = True) -> Sweep:
    """The child runs of the given sweep parent runs."""
    frames = [child_runs(run_id) for run_id in parent_run_ids]
    # Empty frames are left out of the concat (pandas warns on them); all empty -> the first.
    runs = pd.concat([f for f in frames if len(f)] or frames[:1], ignore_index=True)
    title = ", ".join(
        mlflow.get_run(run_id).data.tags.get("mtrec.sweep_id", run_id) for run_id in parent_run_ids
    )
    return _to_sweep(runs, f"sweep {title}", with_histories)


def load_experiment(name: str, with_histories: bool = True) -> Sweep:
    """Every job run (sweep parents left out) of an experiment."""
    runs = mlflow.search_runs(experiment_names=[name])
    if "tags.mtrec.role" in runs:
        runs = runs[runs["tags.mtrec.role"] != "sweep"]
    return _to_sweep(runs, f"experiment {name}", with_histories)
