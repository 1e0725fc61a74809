"""hydra/sweeper=mtrec: Hydra's basic sweeper, with each job's config composed once (in-process)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hydra._internal.callbacks import Callbacks
from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra._internal.utils import create_config_search_path
from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, RunMode
from omegaconf import DictConfig

from hydra_plugins.mtrec_sweeper.mtrec_sweeper import MAX_KEPT, ValidatedConfigs
from mtrec.config import CONF_DIR, register_configs

SWEEPER = "hydra_plugins.mtrec_sweeper.mtrec_sweeper.MtrecSweeper"


def name(cls: type) -> str:  # Hydra's plugin scan executes plugin modules again: compare classes by name
    return f"{cls.__module__}.{cls.__qualname__}"


class CountingLoader(ConfigLoaderImpl):
    """Hydra's own config loader, counting the sweep configs it composes."""

    composed: list[list[str]]

    def load_sweep_config(self, master_config: DictConfig, sweep_overrides: list[str]) -> DictConfig:
        self.composed.append(list(sweep_overrides))
        return super().load_sweep_config(master_config, sweep_overrides)


def sweep(tmp_path: Path, *overrides: str) -> tuple[Any, CountingLoader, list[DictConfig]]:
    """Sets up the sweeper `mtrec -m OVERRIDES` would get, runs the sweep with a task that records
    each job's config, and returns the sweeper, its loader and the configs the jobs ran with."""
    loader = CountingLoader(config_search_path=create_config_search_path(CONF_DIR))
    loader.composed = []
    master = loader.load_configuration(
        "config", overrides=[f"hydra.sweep.dir={tmp_path}", *overrides], run_mode=RunMode.MULTIRUN
    )
    plugins = Plugins.instance()
    context = HydraContext(config_loader=loader, callbacks=Callbacks())
    ran: list[DictConfig] = []

    def task(cfg: DictConfig) -> None:
        ran.append(cfg)

    sweeper = plugins.instantiate_sweeper(config=master, hydra_context=context, task_function=task)
    assert name(type(sweeper)) == SWEEPER
    sweeper.sweep(arguments=list(overrides))
    return sweeper, loader, ran


def test_mtrec_is_the_default_sweeper_and_hydra_finds_it() -> None:
    register_configs()  # the schemas the YAML configs extend (mtrec's entry point registers them)
    assert SWEEPER in [name(c) for c in Plugins.instance().discover(Sweeper)]
    loader = ConfigLoaderImpl(config_search_path=create_config_search_path(CONF_DIR))
    master = loader.load_configuration("config", overrides=["experiment=tutorial"], run_mode=RunMode.MULTIRUN)
    assert master.hydra.sweeper._target_ == SWEEPER
    # A sweeper chosen elsewhere still wins: an hparams_search's, or the command line's.
    for overrides, chosen in [(["hparams_search=best_joint"], "optuna"), (["hydra/sweeper=basic"], "basic")]:
        master = loader.load_configuration("config", overrides=overrides, run_mode=RunMode.MULTIRUN)
        assert master.hydra.runtime.choices["hydra/sweeper"] == chosen


def test_each_job_config_is_composed_once(tmp_path: Path) -> None:
    sweeper, loader, ran = sweep(tmp_path, "loss=rating_only,retrieval_only,joint", "optimizer.lr=0.05")
    # Validation composed each job's config; the launcher took those, composing nothing again.
    assert len(loader.composed) == 3
    assert sorted(o[0] for o in loader.composed) == ["loss=joint", "loss=rating_only", "loss=retrieval_only"]
    weights = [(c.loss.rating_weight, c.loss.retrieval_weight) for c in ran]
    assert sorted(weights) == [(0.0, 1.0), (1.0, 0.0), (1.0, 1.0)]
    assert all(c.optimizer.lr == 0.05 for c in ran)
    assert sweeper.configs is not None and not any(sweeper.configs.kept.values())


def test_a_bad_override_stops_the_sweep_before_any_job(tmp_path: Path) -> None:
    # Job 1's config is fine; job 2's is not: validation finds it before job 1 runs.
    with pytest.raises(Exception, match="nosuchloss"):
        sweep(tmp_path, "loss=rating_only,nosuchloss")
    assert (tmp_path / "multirun.yaml").is_file()  # the sweep started...
    assert not (tmp_path / "0").exists()  # ...and no job did


def test_other_launchers_compose_as_hydra_does(tmp_path: Path) -> None:
    # The joblib launcher composes each config in its worker process: nothing is kept for it.
    loader = ConfigLoaderImpl(config_search_path=create_config_search_path(CONF_DIR))
    master = loader.load_configuration(
        "config",
        overrides=["hydra/launcher=joblib", f"hydra.sweep.dir={tmp_path}"],
        run_mode=RunMode.MULTIRUN,
    )
    context = HydraContext(config_loader=loader, callbacks=Callbacks())
    sweeper = Plugins.instance().instantiate_sweeper(
        config=master, hydra_context=context, task_function=print
    )
    assert name(type(sweeper)) == SWEEPER
    assert sweeper.configs is None
    assert sweeper.hydra_context is not None and sweeper.hydra_context.config_loader is loader


def test_kept_configs_are_handed_out_once_and_bounded() -> None:
    loader = CountingLoader(config_search_path=create_config_search_path(CONF_DIR))
    loader.composed = []
    configs = ValidatedConfigs(loader)
    master = loader.load_configuration("config", overrides=[], run_mode=RunMode.MULTIRUN)
    configs.compose_and_keep(master, ["loss=joint"])
    kept = configs.load_sweep_config(master, ["loss=joint"])
    assert len(loader.composed) == 1 and kept.loss.retrieval_weight == 1.0
    again = configs.load_sweep_config(master, ["loss=joint"])  # composed anew: handed out once only
    assert again is not kept and again.loss == kept.loss and len(loader.composed) == 2
    configs.compose_and_keep(master, ["loss=rating_only"])
    other_master = loader.load_configuration("config", overrides=[], run_mode=RunMode.MULTIRUN)
    configs.load_sweep_config(other_master, ["loss=rating_only"])  # another master: composed for it
    assert len(loader.composed) == 4 and sum(len(v) for v in configs.kept.values()) == 1
    for i in range(MAX_KEPT + 5):
        configs.compose_and_keep(master, [f"optimizer.lr={i}"])
    assert sum(len(v) for v in configs.kept.values()) == MAX_KEPT
