"""``hydra/sweeper=optuna``: the schema of mtrec's Optuna sweeper, its samplers and pruners.

Registered under the names hydra-optuna-sweeper used (``hydra/sweeper: optuna``,
``hydra/sweeper/sampler: tpe | random | nsgaii``), so recipes written for it compose unchanged;
``gp`` (Optuna's Gaussian-process sampler, which needs ``torch``), ``grid`` and the ``hydra/sweeper/pruner``
group are new. No ``from __future__ import annotations``: Hydra executes plugin modules before it
registers them, where dataclasses cannot resolve string annotations.
"""

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING


@dataclass
class TPESamplerConf:
    _target_: str = "optuna.samplers.TPESampler"
    seed: int | None = None
    n_startup_trials: int = 10
    multivariate: bool = False


@dataclass
class RandomSamplerConf:
    _target_: str = "optuna.samplers.RandomSampler"
    seed: int | None = None


@dataclass
class NSGAIISamplerConf:
    _target_: str = "optuna.samplers.NSGAIISampler"
    seed: int | None = None
    population_size: int = 50
    mutation_prob: float | None = None
    crossover_prob: float = 0.9
    swapping_prob: float = 0.5


@dataclass
class GPSamplerConf:
    _target_: str = "optuna.samplers.GPSampler"
    seed: int | None = None
    n_startup_trials: int = 10


@dataclass
class GridSamplerConf:
    """Every point of a grid of ``choice(...)`` keys, once; the sweeper gives it the grid."""

    _target_: str = "mtrec.app.grid_sampler.GridSampler"
    seed: int | None = None


@dataclass
class MedianPrunerConf:
    _target_: str = "optuna.pruners.MedianPruner"
    n_startup_trials: int = 5
    n_warmup_steps: int = 0


@dataclass
class ThresholdPrunerConf:
    _target_: str = "optuna.pruners.ThresholdPruner"
    lower: float | None = None
    upper: float | None = None
    n_warmup_steps: int = 0


@dataclass
class NopPrunerConf:
    _target_: str = "optuna.pruners.NopPruner"


@dataclass
class OptunaSweeperConf:
    """``hydra.sweeper.*`` of ``hydra/sweeper=optuna`` (docs/sweeps.md, "Search")."""

    _target_: str = "hydra_plugins.mtrec_optuna.sweeper.OptunaSweeper"
    # The sampler and pruner stay configs until the sweeper builds them, so that a bad one is
    # one line and exit 2 rather than Hydra's instantiation traceback.
    _recursive_: bool = False
    defaults: list[Any] = field(default_factory=lambda: [{"sampler": "tpe"}, {"pruner": "median"}])
    sampler: Any = MISSING
    pruner: Any = MISSING
    direction: Any = "minimize"
    """``minimize`` / ``maximize``, or a list of them, one per entry of ``objectives``."""
    storage: str | None = None
    """An Optuna RDB URL (``sqlite:///optuna.db``, ``postgresql://...``); None: ``optuna.db`` beside
    the MLflow SQLite store (else in the working directory)."""
    study_name: str | None = None
    """None: ``<hparams_search or 'search'>-<hash of the search>``, so the same command resumes."""
    n_trials: int = 20
    """COMPLETE + PRUNED trials the study should hold (over every process that shares it)."""
    n_jobs: int = 1
    """Trials asked at once and handed to the launcher as one batch."""
    params: dict[str, str] | None = None
    heartbeat_interval: int = 10
    """Seconds between the heartbeats of a running trial (RDB storage)."""
    grace_period: int = 120
    """A RUNNING trial of another host without a heartbeat for this long is failed."""


SAMPLERS: dict[str, type] = {
    "tpe": TPESamplerConf,
    "random": RandomSamplerConf,
    "nsgaii": NSGAIISamplerConf,
    "gp": GPSamplerConf,
    "grid": GridSamplerConf,
}
"""``hydra/sweeper/sampler`` options (also ``hydra.sweeper.sampler=<name>``)."""
PRUNERS: dict[str, type] = {
    "median": MedianPrunerConf,
    "threshold": ThresholdPrunerConf,
    "nop": NopPrunerConf,
}
"""``hydra/sweeper/pruner`` options (also ``hydra.sweeper.pruner=<name>``)."""


def register() -> None:
    cs = ConfigStore.instance()
    cs.store(group="hydra/sweeper", name="optuna", node=OptunaSweeperConf, provider="mtrec")
    for name, node in SAMPLERS.items():
        cs.store(group="hydra/sweeper/sampler", name=name, node=node, provider="mtrec")
    for name, node in PRUNERS.items():
        cs.store(group="hydra/sweeper/pruner", name=name, node=node, provider="mtrec")
