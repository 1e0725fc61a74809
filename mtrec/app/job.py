"""One Hydra job: check the input, train with tracking, return the objective(s).

A single run fails fast: bad input prints one line and exits 2 before any MLflow run exists. A
job of a multirun never sinks its sweep: whatever it raises is recorded in a FAILED child run,
and the sweep callback (:mod:`mtrec.app.sweep_callback`) reports it and exits non-zero once
every job has run.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import NoReturn, cast

from omegaconf import OmegaConf

from mtrec.app import sweep_state, trials, warmup
from mtrec.app.baselines import start_baselines
from mtrec.app.dataset import prepare, split_inputs
from mtrec.app.process import ProcessState
from mtrec.config import Config, ConfigError
from mtrec.config.run_keys import named_override
from mtrec.data.interactions import DataError, Split
from mtrec.reports.tables import format_metrics
from mtrec.tensorflow_import import import_tensorflow
from mtrec.tracking import resume
from mtrec.tracking.connect import use_experiment
from mtrec.tracking.runs import RunLogger, default_run_name, flatten, log_artifacts, start_run
from mtrec.tracking.store import StoreError, Target, resolve_target

log = logging.getLogger("mtrec")
Objective = float | tuple[float, ...] | None
EpochHook = Callable[[int, Mapping[str, float]], None]
UNTRACKED = Target("", "")  # the target of a job with tracking.enabled=false: never opened


@dataclass(frozen=True)
class JobContext:
    """What a job knows of Hydra: where to write and how it was launched."""

    output_dir: Path
    overrides: list[str] = field(default_factory=list)
    sweep_dir: str | None = None  # set for the jobs of a multirun
    job_num: int | None = None

    def tags(self) -> dict[str, str]:
        tags = {"mtrec.overrides": " ".join(self.overrides), "mtrec.output_dir": str(self.output_dir)}
        if self.sweep_dir is not None:
            tags |= {"mtrec.sweep_dir": self.sweep_dir, "mtrec.job_num": str(self.job_num)}
        return tags


def run_name(cfg: Config, overrides: list[str]) -> str:
    """The tasks' weights, then any other override: "rating=1 retrieval=0.5 optimizer.lr=0.05"."""
    if cfg.tracking.run_name:
        return cfg.tracking.run_name
    extra = [o for o in overrides if named_override(o)]
    return " ".join([default_run_name({name: t.weight for name, t in cfg.tasks.items()}), *extra])


def objective(metrics: Mapping[str, float], names: list[str]) -> Objective:
    values = tuple(metrics.get(name, math.nan) for name in names)
    return values[0] if len(values) == 1 else values


def legacy_weight_note(overrides: list[str]) -> str | None:
    """The one-line note for overrides of ``loss.rating_weight`` / ``loss.retrieval_weight``: they
    still work (the tutorial's tasks read them), and the note names the keys that set any task's."""
    used = sorted({o.split("=", 1)[0].lstrip("+~") for o in overrides} & set(LEGACY_WEIGHTS))
    if not used:
        return None
    keys = ", ".join(f"{key} sets {LEGACY_WEIGHTS[key]}" for key in used)
    return f"note: {keys} (where the tasks option reads it); any task's weight is tasks.<name>.weight"


LEGACY_WEIGHTS = {
    "loss.rating_weight": "tasks.rating.weight",
    "loss.retrieval_weight": "tasks.retrieval.weight",
}


def run_job(cfg: Config, ctx: JobContext, state: ProcessState) -> Objective:
    """Runs one job of the app: a dry run, a single run, or a job of a multirun."""
    note = legacy_weight_note(ctx.overrides)
    if note is not None and "legacy weight note" not in state.set_up:
        state.set_up.add("legacy weight note")  # once a process, not once a job
        log.info(note)
    if cfg.dry_run:
        _dry_run(cfg, state)
        return None
    if ctx.sweep_dir is not None:
        return _run_sweep_job(cfg, ctx, state)
    try:
        target = (
            resolve_target(cfg.tracking.uri, cfg.tracking.experiment) if cfg.tracking.enabled else UNTRACKED
        )
        split = prepare(cfg, state)
    except (ConfigError, DataError, StoreError) as e:
        _exit_with_error(e)
    start_baselines(cfg, split, state)  # numpy, in a child process, while MLflow and TensorFlow import
    try:
        metrics = _train_tracked(cfg, ctx, state, lambda: split, target)
    # NaN/inf loss: the run is FAILED; a store that cannot be used: no run began. One line each.
    except (FloatingPointError, StoreError) as e:
        _exit_with_error(e)
    return objective(metrics, list(cfg.objectives))


def _exit_with_error(error: Exception) -> NoReturn:
    print(f"mtrec: error: {error}", file=sys.stderr)
    sys.exit(2)


def _dry_run(cfg: Config, state: ProcessState) -> None:
    try:
        split = prepare(cfg, state)
    except (ConfigError, DataError) as e:
        _exit_with_error(e)
    training = _import_training(state)
    log.info(training.describe(training.build_model(cfg, split, state), split))


def _resolved(cfg: Config) -> dict:
    return cast(dict, OmegaConf.to_container(cast(object, cfg), resolve=True))


def _open_experiment(target: Target, state: ProcessState) -> str:
    """The experiment's id in the target store. The process's first store imports MLflow's SQL
    layer: objects that live as long as the process, created out of the collector's sight."""
    with state.once("mlflow store"):
        return use_experiment(target.uri, target.experiment).experiment_id


def _train_tracked(
    cfg: Config,
    ctx: JobContext,
    state: ProcessState,
    get_split: Callable[[], Split],
    target: Target,
    parent_run_id: str | None = None,
    extra_tags: Mapping[str, str] | None = None,
    on_epoch_end: EpochHook | None = None,
) -> dict[str, float]:
    resolved = _resolved(cfg)
    name = run_name(cfg, ctx.overrides)
    pruned: BaseException | None = None
    if not cfg.tracking.enabled:
        metrics = _train(cfg, ctx, state, get_split, RunLogger(None), on_epoch_end)
    else:
        tags = {
            **ctx.tags(),
            "mtrec.fingerprint": resume.fingerprint(resolved),
            # Which process ran the job: a killed worker's run can be told apart, and the tags below
            # show each worker parsing its data once.
            "mtrec.worker_pid": str(os.getpid()),
            **(extra_tags or {}),
        }
        with start_run(
            _open_experiment(target, state),
            run_name=name,
            params=flatten(resolved),
            tags=tags,
            parent_run_id=parent_run_id,
        ) as run:
            try:
                metrics = _train(cfg, ctx, state, get_split, run, on_epoch_end)
            except Exception as e:
                if not trials.is_pruned(e):
                    raise
                run.set_tags({trials.PRUNED_TAG: "true"})  # stopped by the pruner: FINISHED, tagged
                pruned = e
    if pruned is not None:
        log.info(f"{name}: {pruned}")
        raise pruned
    log.info(format_metrics(name, metrics))
    return metrics


def _train(
    cfg: Config,
    ctx: JobContext,
    state: ProcessState,
    get_split: Callable[[], Split],
    run: RunLogger,
    on_epoch_end: EpochHook | None = None,
) -> dict[str, float]:
    """Loads the data (when not loaded yet), trains, exports and logs, inside the job's run."""
    hits_before, taken_before = state.hits, state.prefetches_taken
    started = time.perf_counter()
    split = get_split()
    times = {"time/data_seconds": time.perf_counter() - started}  # ~0 when already prepared
    source = {f"mtrec.dataset.{key}": value for key, value in split.train.source.items()}
    run.log_datasets(split_inputs(cfg.dataset, split))
    run.set_tags(
        {
            "mtrec.data_cache_hit": str(state.hits > hits_before).lower(),
            # Loaded while the multirun started (mtrec.app.prefetch): the first job's, usually.
            "mtrec.data_prefetched": str(state.prefetches_taken > taken_before).lower(),
            "mtrec.data_loads_in_process": str(state.loads),
            **source,  # which table was read: path, rows, sha256 (a table source only)
        }
    )
    if source:
        log.info("data: " + ", ".join(f"{k.removeprefix('mtrec.dataset.')}={v}" for k, v in source.items()))
    start_baselines(cfg, split, state)  # numpy, in a child process, while TensorFlow imports and builds
    started = time.perf_counter()
    training = _import_training(state)
    times["time/import_seconds"] = time.perf_counter() - started  # the first job of a process only
    ctx.output_dir.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(cast(object, cfg), ctx.output_dir / "config.yaml", resolve=True)
    export_dir = ctx.output_dir / "export" if run.run_id and cfg.tracking.log_model else None
    report = ctx.sweep_dir is not None and cfg.tracking.enabled  # the sweep's report, at its end
    _warm_up(state, log_model=export_dir is not None, report=report)
    metrics = training.train(cfg, split, ctx.output_dir, state, run.log_metrics, export_dir, on_epoch_end)
    if export_dir is not None:
        from mtrec.serving import pyfunc

        started = time.perf_counter()
        pyfunc.log_model(export_dir)
        times["time/log_model_seconds"] = time.perf_counter() - started
    run.log_metrics(times)
    metrics |= times
    if cfg.tracking.log_artifacts:
        log_artifacts(run, ctx.output_dir)
    return metrics


def _import_training(state: ProcessState) -> ModuleType:
    """``mtrec.app.training``; TensorFlow loads only once the config and data are known good. The
    first import is kept out of the garbage collector's sight (``ProcessState.once``)."""
    with state.once("tensorflow"):
        import_tensorflow()  # without its CPU start-up notices (mtrec.tensorflow_import)
        from mtrec.app import training
    return training


def _warm_up(state: ProcessState, log_model: bool, report: bool) -> None:
    """Once a process, just before its first model trains: what the model's log and the sweep's
    report will need, loaded meanwhile (``mtrec.app.warmup``)."""
    if "warm-up" in state.set_up:
        return
    state.set_up.add("warm-up")
    tasks = [warmup.mlflow_requirement_map] * log_model + [warmup.report_modules] * report
    state.warm_up = warmup.start(tasks)


def _run_sweep_job(cfg: Config, ctx: JobContext, state: ProcessState) -> Objective:
    def get_split() -> Split:
        return prepare(cfg, state)

    link = trials.open_trial(cfg, ctx.sweep_dir)  # None outside an Optuna search
    hook = link.on_epoch_end if link else None
    if not cfg.tracking.enabled:  # No parent run: Hydra itself reports a failed job once the sweep ends.
        metrics = _train_tracked(cfg, ctx, state, get_split, UNTRACKED, on_epoch_end=hook)
        return objective(metrics, list(cfg.objectives))
    found = sweep_state.read(cast(str, ctx.sweep_dir))
    if found is None:
        # A launcher's worker that does not see the driver's sweep folder (a Ray worker started in
        # another directory or on another machine) would otherwise log a run outside the sweep.
        raise FileNotFoundError(
            f"job {ctx.job_num}: no {sweep_state.STATE_FILE} in hydra.sweep.dir={ctx.sweep_dir} as seen "
            f"from {os.getcwd()}; run the workers where the sweep folder is (start Ray in the directory "
            "you run mtrec from) or set an absolute hydra.sweep.dir on a shared filesystem"
        )

    sweep_tags = {"mtrec.sweep_id": found["sweep_id"], **(link.tags() if link else {})}
    # The parent run's store and experiment, as the sweep resolved them (sweep_state.write).
    target = resolve_target(found["tracking_uri"], found.get("experiment") or cfg.tracking.experiment)
    if cfg.sweep.resume:
        done = resume.find_finished(target.uri, target.experiment, resume.fingerprint(_resolved(cfg)))
        if done is not None:
            name = run_name(cfg, ctx.overrides)
            resume.copy_run(
                done, parent_run_id=found["parent_run_id"], run_name=name, tags={**ctx.tags(), **sweep_tags}
            )
            log.info(f"job {ctx.job_num} ({name}): skipped, already FINISHED as run {done.info.run_id}")
            return objective(done.data.metrics, list(cfg.objectives))
    try:
        metrics = _train_tracked(
            cfg,
            ctx,
            state,
            get_split,
            target,
            parent_run_id=found["parent_run_id"],
            extra_tags=sweep_tags,
            on_epoch_end=hook,
        )
    except Exception as e:  # Recorded as a FAILED child run; the sweep goes on.
        if trials.is_pruned(e):  # the sweeper tells the study PRUNED
            raise
        log.error(f"mtrec: job {ctx.job_num} failed: {type(e).__name__}: {e}")
        return objective({}, list(cfg.objectives))
    return objective(metrics, list(cfg.objectives))
