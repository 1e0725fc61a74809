"""A job's side of an Optuna search (``hydra/sweeper=optuna``): its trial, the pruner's check
after each epoch, and the earlier trials a resumed search records under its new parent run.

The sweeper asks the study for a trial and hands the job ``trial.number=N``; the sweep folder's
``mtrec_study.json`` (:func:`mtrec.app.sweep_state.write_study`) names the study, its storage and
its pruner. The job, in whatever process the launcher runs it, opens the same trial there
(``optuna.trial.Trial(study, trial_id)``), reports its per-epoch validation metric, and raises
``optuna.TrialPruned`` when the pruner says so; the sweeper then tells the study PRUNED. The run
ends FINISHED, tagged ``mtrec.pruned=true``; reports show it as PRUNED.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow

from mtrec.app import sweep_state
from mtrec.config import Config
from mtrec.tracking import resume
from mtrec.tracking.store import retry_locked

log = logging.getLogger("mtrec")
STUDY_TAG, TRIAL_TAG, PRUNED_TAG = "mtrec.optuna_study", "mtrec.optuna_trial", "mtrec.pruned"


@dataclass
class TrialLink:
    """One job's trial: its study and number, and the Optuna trial it reports to (None when the
    study is not pruned: multi-objective, or ``hydra/sweeper/pruner=nop``)."""

    study_name: str
    number: int
    metric: str
    trial: Any = None

    def tags(self) -> dict[str, str]:
        return {STUDY_TAG: self.study_name, TRIAL_TAG: str(self.number)}

    def on_epoch_end(self, epoch: int, metrics: Mapping[str, float]) -> None:
        """Reports ``metric`` at step ``epoch``; raises ``optuna.TrialPruned`` if the pruner says so."""
        if self.trial is None or self.metric not in metrics:
            return
        import optuna

        value = float(metrics[self.metric])
        self.trial.report(value, epoch)
        if self.trial.should_prune():
            raise optuna.TrialPruned(
                f"trial {self.number} pruned after epoch {epoch} ({self.metric}={value:.4g})"
            )


def monitored(objective: str) -> str:
    """The per-epoch metric a pruner watches for an objective: its ``val/*`` counterpart
    (``test/rmse`` -> ``val/rmse``), which exists when the trainer validates."""
    return "val/" + objective.split("/", 1)[1] if "/" in objective else objective


def open_trial(cfg: Config, sweep_dir: str | None) -> TrialLink | None:
    """The job's trial, or None outside an Optuna search."""
    number = cfg.trial.number
    found = sweep_state.read_study(sweep_dir) if sweep_dir is not None and number is not None else None
    if found is None or number is None:
        return None
    link = TrialLink(found["study_name"], int(number), monitored(list(cfg.objectives)[0]))
    if found.get("pruner") is not None and cfg.trainer.val_fraction > 0:
        import optuna
        from hydra.utils import instantiate

        url = found["storage"]
        kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
        storage = optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
        study = optuna.load_study(
            study_name=link.study_name, storage=storage, pruner=instantiate(found["pruner"])
        )
        study_id = storage.get_study_id_from_name(link.study_name)
        link.trial = optuna.trial.Trial(
            study, storage.get_trial_id_from_study_id_trial_number(study_id, number)
        )
    return link


def is_pruned(error: BaseException) -> bool:
    """Whether ``error`` is Optuna's ``TrialPruned`` (Optuna is imported only by a search's jobs)."""
    optuna = sys.modules.get("optuna")
    return optuna is not None and isinstance(error, optuna.TrialPruned)


def record_earlier(sweep_dir: Path, study_name: str, numbers: Sequence[int]) -> list[int]:
    """Records the study's trials that finished before this command under its parent run.

    Each is a copy of the trial's FINISHED MLflow run (:func:`mtrec.tracking.resume.copy_run`,
    tagged ``mtrec.resumed_from``), so a resumed search's report covers every trial without
    training any again. Returns the numbers recorded (a trial whose run is not in this store is
    left out). Nothing happens with tracking off.
    """
    found = sweep_state.read(sweep_dir)
    if found is None or not numbers:
        return []
    mlflow.set_tracking_uri(found["tracking_uri"])
    runs = retry_locked(
        mlflow.search_runs,
        experiment_names=[found["experiment"]],
        filter_string=f"tags.`{STUDY_TAG}` = '{study_name}' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time ASC"],
        output_format="list",
    )
    by_number = {int(r.data.tags[TRIAL_TAG]): r for r in runs if r.data.tags.get(TRIAL_TAG, "").isdigit()}
    recorded = [n for n in numbers if n in by_number]
    for n in recorded:
        source = by_number[n]
        resume.copy_run(
            source,
            parent_run_id=found["parent_run_id"],
            run_name=source.data.tags.get("mlflow.runName", f"trial {n}"),
            # Not a job of this multirun: its own job key, so a report never takes it for a retry.
            tags={
                "mtrec.sweep_id": found["sweep_id"],
                "mtrec.sweep_dir": str(sweep_dir),
                "mtrec.job_num": f"trial-{n}",
            },
        )
    log.info(
        f"study {study_name}: trials {recorded} finished earlier; recorded under this sweep, "
        "not trained again"
    )
    return recorded
