"""``hydra/sweeper=methods``: several ways of choosing a run's settings, compared in one multirun.

Each entry of ``hydra.sweeper.methods`` is one method: an Optuna sampler (``grid`` for a grid of
``choice(...)`` keys, ``nsgaii``, ``tpe``, ``random``, or a ``_target_`` config) and the
``params`` it works on, in hydra-optuna-sweeper's syntax. Every method gets the same budget of
jobs (``hydra.sweeper.budget``; a grid must have exactly that many points), the same objectives
and directions, and the command line's overrides. Methods run one after the other through the
configured launcher, each as an Optuna study of its own (``<experiment>-<method>-<hash>``, in
``hydra.sweeper.storage``), so re-running the command resumes every method; every job is a child
of the multirun's one MLflow parent and carries ``sweep.method=<name>``, by which the report
draws one Pareto front per method, with its hypervolume (:mod:`mtrec.reports.methods`).

Everything is checked, and every study opened, before the first job runs. No ``from __future__
import annotations``: Hydra executes plugin modules before it registers them.
"""

import re
from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

METHOD_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


@dataclass
class MethodConf:
    """One method of ``hydra.sweeper.methods``."""

    sampler: Any = "grid"
    """An option of ``hydra/sweeper/sampler`` by name, or a sampler config with ``_target_``."""
    params: dict[str, str] = field(default_factory=dict)
    """The keys the method sets or searches (``choice``, ``interval``, ``tag(log, ...)``, fixed values)."""


@dataclass
class MethodsSweeperConf:
    """``hydra.sweeper.*`` of ``hydra/sweeper=methods`` (docs/sweeps.md, "Comparing methods")."""

    _target_: str = "hydra_plugins.mtrec_optuna.methods.MethodsSweeper"
    _recursive_: bool = False
    methods: dict[str, MethodConf] = field(default_factory=dict)
    budget: int = 8
    """Jobs per method."""
    direction: Any = "minimize"
    """One per entry of ``objectives``, as ``hydra/sweeper=optuna``'s."""
    storage: str | None = None
    """Where the methods' studies live; None: ``optuna.db`` beside the MLflow SQLite store."""
    n_jobs: int = 1
    """Jobs handed to the launcher at once, within a method."""
    heartbeat_interval: int = 10
    grace_period: int = 120


ConfigStore.instance().store(group="hydra/sweeper", name="methods", node=MethodsSweeperConf, provider="mtrec")


class MethodsSweeper(Sweeper):
    """Runs each method's study in turn, ``budget`` jobs each, under one multirun."""

    def __init__(
        self,
        methods: DictConfig,
        budget: int,
        direction: Any,
        storage: str | None,
        n_jobs: int,
        heartbeat_interval: int,
        grace_period: int,
    ) -> None:
        self.methods = methods
        self.budget, self.direction, self.storage, self.n_jobs = budget, direction, storage, n_jobs
        self.heartbeat_interval, self.grace_period = heartbeat_interval, grace_period

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.context, self.task_function, self.cfg = hydra_context, task_function, config

    def sweep(self, arguments: list[str]) -> None:
        from .sweeper import OptunaSweeper, _exit_with_error

        experiment = self.cfg.hydra.runtime.choices.get("experiment") or "methods"
        opened = []
        launcher = None
        try:
            self._check()
            for key, method in self.methods.items():
                name = str(key)
                sweeper = OptunaSweeper(
                    sampler=method.sampler,
                    pruner="nop",  # every method spends its whole budget
                    direction=self.direction,
                    storage=self.storage,
                    study_name=None,
                    n_trials=self.budget,
                    n_jobs=self.n_jobs,
                    params=method.params,
                    heartbeat_interval=self.heartbeat_interval,
                    grace_period=self.grace_period,
                )
                sweeper.name_prefix = f"{experiment}-{name}"
                sweeper.results_file = f"optimization_results_{name}.yaml"
                sweeper.setup(hydra_context=self.context, task_function=self.task_function, config=self.cfg)
                launcher = launcher or sweeper.job_launcher
                sweeper.job_launcher = launcher  # one launcher (one Ray cluster, one pool) for all
                args = [*arguments, f"sweep.method={name}"]
                self._check_grid_size(name, method, args)
                opened.append((sweeper, sweeper.prepare(args)))
        except ValueError as e:  # SearchError, SearchSpaceError, StudyError: one line, exit 2
            _exit_with_error(e)
        job_idx = 0
        for sweeper, study in opened:
            sweeper.job_idx = job_idx
            sweeper.run(study)
            job_idx = sweeper.job_idx

    def _check(self) -> None:
        from .sweeper import SearchError

        if not self.methods:
            raise SearchError("hydra.sweeper.methods: no method; give each a sampler and params")
        for key in self.methods:
            name = str(key)
            if not METHOD_NAME.fullmatch(name):
                raise SearchError(
                    f"hydra.sweeper.methods.{name}: a method's name is a letter, then letters, digits or _"
                )
        if self.budget < 1:
            raise SearchError(f"hydra.sweeper.budget must be >= 1 (got {self.budget})")

    def _check_grid_size(self, name: str, method: DictConfig, arguments: list[str]) -> None:
        """A grid method spends exactly the budget: as many points as the others have jobs."""
        import math

        from .search_space import parse
        from .sweeper import SearchError

        sampler = method.sampler
        target = sampler if isinstance(sampler, str) else str(sampler.get("_target_", ""))
        if target != "grid" and not target.endswith("GridSampler"):
            return
        params = OmegaConf.to_container(method.params) if method.params is not None else {}
        space, _ = parse(params, arguments)  # type: ignore[arg-type]
        points = math.prod(len(getattr(d, "choices", ())) or 1 for d in space.values())
        if space and points != self.budget:
            raise SearchError(
                f"hydra.sweeper.methods.{name}: its grid has {points} points and hydra.sweeper.budget "
                f"is {self.budget}; methods compare at equal budget"
            )
