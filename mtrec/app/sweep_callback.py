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
import logging
import sys
import uuid
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from mtrec.app import process, sweep_state
from mtrec.app.progress import SweepProgress, count_jobs
from mtrec.tracking.store import StoreError, resolve_target, retry_locked

if TYPE_CHECKING:
    from mtrec.tracking.liveness import Heartbeat

# MLflow (about 1 s to import) loads in on_multirun_start, once the data and baselines are under
# way (mtrec.app.prefetch), not when Hydra creates the callbacks.

log = logging.getLogger("mtrec")
BASIC_LAUNCHER = "hydra._internal.core_plugins.basic_launcher.BasicLauncher"


class SweepCallback(Callback):
    """Opens and closes a multirun's parent run and writes its report."""

    def __init__(self) -> None:
        self.parent_run_id: str | None = None
        self.heartbeat: Heartbeat | None = None
        self.progress: SweepProgress | None = None

    def __getstate__(self) -> dict[str, Any]:
        """Launchers (joblib's loky) pickle the callbacks into their workers: the parent run's
        heartbeat thread stays with the driver, which alone beats for the parent run."""
        return {**self.__dict__, "heartbeat": None}

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        if config.hydra.launcher.get("_target_") == BASIC_LAUNCHER:  # the jobs run in this process
            from mtrec.app.prefetch import prefetch

            prefetch(config, process.current())  # type: ignore[arg-type]  # a DictConfig of Config
            self.progress = SweepProgress(_num_jobs(config))
        if not config.tracking.enabled:
            return
        import mlflow
        from mlflow.entities import RunStatus

        from mtrec.tracking.connect import use_experiment
        from mtrec.tracking.liveness import Heartbeat, process_tags

        sweep_dir = Path(config.hydra.sweep.dir)
        sweep_id = f"{datetime.now():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
        try:
            target = resolve_target(config.tracking.uri, config.tracking.experiment)
            with process.current().once("mlflow store"):
                experiment = use_experiment(target.uri, target.experiment)
        except StoreError as e:  # Before any job: one line, no run.
            print(f"mtrec: error: {e}", file=sys.stderr)
            sys.exit(2)
        overrides = " ".join(config.hydra.overrides.task)
        run = retry_locked(
            mlflow.MlflowClient().create_run,
            experiment.experiment_id,
            run_name=f"sweep {sweep_id}",
            tags={
                **process_tags(),
                "mtrec.role": "sweep",
                "mtrec.sweep_id": sweep_id,
                "mtrec.sweep_overrides": overrides,
                "mtrec.sweep_dir": str(sweep_dir),
            },
        )
        self.parent_run_id = run.info.run_id
        self.heartbeat = Heartbeat(self.parent_run_id).start()
        sweep_state.write(sweep_dir, self.parent_run_id, sweep_id, target.uri, target.experiment)
        # Hydra skips on_multirun_end when the sweep raises (Ctrl-C, a launcher error); the
        # parent must not stay RUNNING then.
        atexit.register(self._close_if_open, RunStatus.to_string(RunStatus.KILLED))
        log.info(f"sweep {sweep_id}: MLflow parent run {self.parent_run_id}")

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        if self.progress is not None:
            log.info(self.progress.job_ended())

    def _close_if_open(self, status: str) -> None:
        if self.parent_run_id is None:
            return
        import mlflow

        from mtrec.tracking.sweeps import close_orphaned_children

        if self.heartbeat is not None:
            self.heartbeat.stop()
        close_orphaned_children(self.parent_run_id)
        client = mlflow.MlflowClient()
        if retry_locked(client.get_run, self.parent_run_id).info.status == "RUNNING":
            retry_locked(client.set_terminated, self.parent_run_id, status=status)
        self.parent_run_id = None

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if self.parent_run_id is None:
            return
        import mlflow
        from mlflow.entities import RunStatus

        # matplotlib loads only when a report is due.
        from mtrec.reports.report import write_report
        from mtrec.reports.sweep import load_sweep
        from mtrec.reports.tables import summary_markdown
        from mtrec.tracking.sweeps import close_orphaned_children

        parent_run_id = self.parent_run_id
        try:
            close_orphaned_children(parent_run_id)
            sweep = load_sweep([parent_run_id])
            reference = config.sweep.get("reference_point")
            files = write_report(sweep, Path(config.hydra.sweep.dir), config.sweep.pareto, reference)
            for path in files:
                mlflow.MlflowClient().log_artifact(parent_run_id, str(path))
            log.info(summary_markdown(sweep, config.sweep.pareto, reference))
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


def _num_jobs(config: DictConfig) -> int | None:
    """How many jobs the multirun runs: the methods' budgets, an Optuna sweeper's trials, else the
    basic sweep's grid of command-line overrides and ``hydra.sweeper.params``."""
    sweeper = config.hydra.sweeper
    if sweeper.get("methods"):  # hydra/sweeper=methods: a budget of jobs per method
        return int(sweeper.budget) * len(sweeper.methods)
    if sweeper.get("n_trials") is not None:
        return int(sweeper.n_trials)
    params = [f"{key}={value}" for key, value in (sweeper.get("params") or {}).items()]
    return count_jobs([*params, *config.hydra.overrides.task])
