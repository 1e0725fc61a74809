"""``hydra/sweeper=mtrec``, mtrec's default: Hydra's basic sweeper, each job's config composed once.

Hydra's basic sweeper composes every job's config twice: first to validate the whole batch before
any job starts, then in the launcher, just before the job runs (0.2-0.3 s a compose of mtrec's
configs, measured). With Hydra's basic launcher, which runs the jobs in this process, this sweeper
hands the launcher the config its validation composed. Other launchers compose as they always do
(in their workers, or in the driver for a remote worker), and nothing is kept for them.

A Hydra plugin has to live in the ``hydra_plugins`` namespace package. No ``from __future__ import
annotations`` here: Hydra executes plugin modules before registering them, where dataclasses
cannot resolve string annotations.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

# Hydra's basic sweeper and launcher are public plugins (``hydra/sweeper=basic``,
# ``hydra/launcher=basic``) whose classes live only in ``hydra._internal`` (checked with hydra-core
# 1.3.2): this block is the one place mtrec names them.
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper, BasicSweeperConf  # noqa: E402
from hydra.core.config_loader import ConfigLoader
from hydra.core.config_store import ConfigStore
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

BASIC_LAUNCHER = "hydra._internal.core_plugins.basic_launcher.BasicLauncher"
# Validated configs kept at most (~0.5 MB each): the jobs of a larger batch beyond these compose again.
MAX_KEPT = 32


@dataclass
class MtrecSweeperConf(BasicSweeperConf):
    _target_: str = "hydra_plugins.mtrec_sweeper.mtrec_sweeper.MtrecSweeper"


ConfigStore.instance().store(group="hydra/sweeper", name="mtrec", node=MtrecSweeperConf, provider="mtrec")


class ValidatedConfigs(ConfigLoader):
    """Hydra's config loader, except that a sweep config kept by :meth:`compose_and_keep` is handed
    out once, to the first ``load_sweep_config`` call for the same master config and overrides."""

    def __init__(self, loader: ConfigLoader) -> None:
        self.loader = loader
        self.kept: dict[tuple[int, tuple[str, ...]], list[DictConfig]] = {}

    def compose_and_keep(self, master_config: DictConfig, sweep_overrides: list[str]) -> None:
        config = self.loader.load_sweep_config(master_config, sweep_overrides)  # raises on a bad one
        if sum(len(configs) for configs in self.kept.values()) < MAX_KEPT:
            self.kept.setdefault((id(master_config), tuple(sweep_overrides)), []).append(config)

    def load_sweep_config(self, master_config: DictConfig, sweep_overrides: list[str]) -> DictConfig:
        kept = self.kept.get((id(master_config), tuple(sweep_overrides)))
        if kept:
            return kept.pop(0)
        return self.loader.load_sweep_config(master_config, sweep_overrides)

    # The rest is Hydra's loader unchanged.
    def load_configuration(self, *args: Any, **kwargs: Any) -> DictConfig:
        return self.loader.load_configuration(*args, **kwargs)

    def get_search_path(self) -> Any:
        return self.loader.get_search_path()

    def get_sources(self) -> Any:
        return self.loader.get_sources()

    def list_groups(self, parent_name: str) -> Any:
        return self.loader.list_groups(parent_name)

    def get_group_options(self, *args: Any, **kwargs: Any) -> Any:
        return self.loader.get_group_options(*args, **kwargs)

    def compute_defaults_list(self, *args: Any, **kwargs: Any) -> Any:
        return self.loader.compute_defaults_list(*args, **kwargs)


class MtrecSweeper(BasicSweeper):
    """Hydra's basic sweeper; with the basic launcher, each job's config is composed only once."""

    configs: "ValidatedConfigs | None" = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        if config.hydra.launcher.get("_target_") == BASIC_LAUNCHER:
            self.configs = ValidatedConfigs(hydra_context.config_loader)
            hydra_context = HydraContext(config_loader=self.configs, callbacks=hydra_context.callbacks)
        super().setup(hydra_context=hydra_context, task_function=task_function, config=config)

    def validate_batch_is_legal(self, batch: Sequence[Sequence[str]]) -> None:
        if self.configs is None:
            super().validate_batch_is_legal(batch)
            return
        assert self.config is not None
        for overrides in batch:
            self.configs.compose_and_keep(self.config, list(overrides))
