"""``hydra/sweeper=optuna``: mtrec's Optuna sweeper, on Hydra's public Sweeper API and Optuna's
ask-and-tell interface.

Each batch asks the study for ``n_jobs`` trials, hands their overrides to the configured Hydra
launcher (basic, joblib, Ray, submitit: any of them, through ``Launcher.launch``), and tells the
study what each job returned: its objective value(s) (``objectives``), ``optuna.TrialPruned``
(PRUNED), or anything else (FAIL; mtrec's jobs return NaN when they fail). The study lives in a
database, so a second run of the same command continues it (:mod:`.study`). A job finds its
trial through ``trial.number=N`` and the study file the sweeper writes into the sweep folder
(``mtrec.app.sweep_state``), and reports its per-epoch validation metric there for the pruner.

No ``from __future__ import annotations``: Hydra executes plugin modules before it registers them.
Nor is Optuna imported at the top: Hydra's plugin scan executes this module in every ``mtrec``
process, sweep or not (``config.register()`` below is all that scan needs). The methods that run
a search import Optuna; annotations name its types as strings.
"""

import contextlib
import importlib.util
import io
import logging
import math
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn, cast

from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from . import config, study
from .search_space import as_override, parse

if TYPE_CHECKING:
    import optuna
    from optuna.distributions import BaseDistribution

config.register()
log = logging.getLogger("mtrec")
DIRECTIONS = ("minimize", "maximize")


class SearchError(ValueError):
    """Bad search input, found before any trial runs."""


class OpenedStudy(NamedTuple):
    """A checked search and its open study: what :meth:`OptunaSweeper.run` runs."""

    study: Any  # optuna.Study
    storage: Any  # optuna.storages.RDBStorage
    name: str
    url: str
    space: dict[str, Any]  # key -> optuna distribution
    fixed: list[str]


class OptunaSweeper(Sweeper):
    """Runs an Optuna study's trials as Hydra jobs, ``n_jobs`` at a time."""

    def __init__(
        self,
        sampler: Any,
        pruner: Any,
        direction: Any,
        storage: str | None,
        study_name: str | None,
        n_trials: int,
        n_jobs: int,
        params: DictConfig | None,
        heartbeat_interval: int,
        grace_period: int,
    ) -> None:
        self.sampler_conf, self.pruner_conf = sampler, pruner
        self.directions = [direction] if isinstance(direction, str) else list(direction)
        self.storage, self.study_name = storage, study_name
        self.n_trials, self.n_jobs = n_trials, n_jobs
        self.params = cast(dict[str, Any], OmegaConf.to_container(params) if params is not None else {})
        self.heartbeat_interval, self.grace_period = heartbeat_interval, grace_period
        self.job_idx = 0
        self.name_prefix: str | None = None  # the default study name's prefix; None: hparams_search
        self.results_file = "optimization_results.yaml"

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.cfg, self.context = config, hydra_context
        self.job_launcher = Plugins.instance().instantiate_launcher(
            config=config, hydra_context=hydra_context, task_function=task_function
        )

    def sweep(self, arguments: list[str]) -> None:
        try:
            opened = self.prepare(arguments)
        # SearchError, SearchSpaceError, StudyError: all ValueErrors, caught by that base because
        # Hydra's plugin scan may execute these modules again (new class objects, same names).
        except ValueError as e:
            _exit_with_error(e)
        self.run(opened)

    def prepare(self, arguments: list[str]) -> "OpenedStudy":
        """Checks the search against the config and opens its study, before any trial runs.

        Raises:
          ValueError: bad search input or a storage that cannot be opened; one line.
        """
        space, fixed = self._check(arguments)
        url, name = self._where(space, fixed)
        built, storage = study.open_study(
            url,
            name,
            self.directions,
            self._build(self.sampler_conf, "sampler", space),
            self._build(self.pruner_conf, "pruner"),
            self.heartbeat_interval,
            self.grace_period,
        )
        return OpenedStudy(built, storage, name, url, space, fixed)

    def run(self, opened: "OpenedStudy") -> None:
        """Runs the opened study's missing trials, ``n_jobs`` at a time."""
        self._run(*opened)

    def _check(self, arguments: list[str]) -> "tuple[dict[str, BaseDistribution], list[str]]":
        """The search space and fixed overrides, checked against the config before any trial."""
        space, fixed = parse(self.params, arguments)
        if not space:
            raise SearchError(
                "hydra.sweeper.params: nothing to search; give a key an interval(...) or choice(...)"
            )
        for i, direction in enumerate(self.directions):
            if direction not in DIRECTIONS:
                raise SearchError(
                    f"hydra.sweeper.direction[{i}] must be one of {list(DIRECTIONS)} (got {direction!r})"
                )
        objectives = list(self.cfg.get("objectives") or [])
        if len(self.directions) != len(objectives):
            raise SearchError(
                f"hydra.sweeper.direction has {len(self.directions)} entries and objectives has "
                f"{len(objectives)} ({objectives}); give one direction per objective"
            )
        if self.n_trials < 1 or self.n_jobs < 1:
            raise SearchError(
                f"hydra.sweeper.n_trials and n_jobs must be >= 1 (got {self.n_trials}, {self.n_jobs})"
            )
        # One composition with a value of every searched key: a key the config lacks fails here.
        sample = [as_override(key, _some_value(d)) for key, d in space.items()]
        try:
            self.context.config_loader.load_sweep_config(self.cfg, [*sample, *fixed])
        except Exception as e:  # Hydra's "Could not override 'x'."; its cause says why
            why = str(e.__cause__).strip().splitlines()[0] if e.__cause__ and str(e.__cause__).strip() else ""
            raise SearchError(
                f"search space: {str(e).strip().splitlines()[0]}{f' ({why})' if why else ''}"
            ) from e
        return space, fixed

    def _where(self, space: "dict[str, BaseDistribution]", fixed: list[str]) -> tuple[str, str]:
        tracking = self.cfg.get("tracking") or {}
        uri = None
        if tracking.get("enabled", False):
            from mtrec.tracking.store import StoreError, resolve_target

            try:
                uri = resolve_target(tracking.get("uri"), tracking.get("experiment")).uri
            except StoreError as e:
                raise SearchError(str(e)) from e
        url = self.storage or study.default_storage(uri)
        prefix = self.name_prefix or self.cfg.hydra.runtime.choices.get("hparams_search") or "search"
        name = self.study_name or study.default_name(
            prefix, space, fixed, self.directions, list(self.cfg.get("objectives") or [])
        )
        return url, name

    def _build(self, conf: Any, what: str, space: "dict[str, BaseDistribution] | None" = None) -> Any:
        import optuna

        if isinstance(conf, str):  # hydra.sweeper.sampler=gp: an option of the group by name
            conf = _option(what, conf)
        target = str(conf.get("_target_", "")) if isinstance(conf, DictConfig) else ""
        if target.endswith("GridSampler") and space is not None:
            plain = cast(dict[str, Any], OmegaConf.to_container(conf))
            conf = OmegaConf.create({**plain, "search_space": self._grid(space), "_convert_": "all"})
        if what == "pruner" and len(self.directions) > 1:
            return optuna.pruners.NopPruner()  # Optuna prunes single-objective studies only
        if target.endswith("GPSampler") and importlib.util.find_spec("torch") is None:
            raise SearchError(
                "hydra/sweeper/sampler=gp needs torch (pip install torch, the CPU build is enough)"
            )
        try:
            built = instantiate(conf)
        except Exception as e:
            cause = (str(e.__cause__ or e).strip().splitlines() or [type(e).__name__])[0]
            raise SearchError(f"hydra.sweeper.{what}: cannot build {target or conf!r}: {cause}") from e
        kind = optuna.samplers.BaseSampler if what == "sampler" else optuna.pruners.BasePruner
        if not isinstance(built, kind):
            raise SearchError(
                f"hydra.sweeper.{what} must name an Optuna {what} (hydra/sweeper/{what}=<option>, or a "
                f"_target_ that is a {kind.__module__}.{kind.__name__}); got {conf!r}"
            )
        return built

    def _grid(self, space: "dict[str, BaseDistribution]") -> dict[str, list[Any]]:
        """The grid sampler's grid: each searched key's choices; every point is one trial."""
        from optuna.distributions import CategoricalDistribution

        numeric = [k for k, d in space.items() if not isinstance(d, CategoricalDistribution)]
        if numeric:
            raise SearchError(
                f"hydra.sweeper.params.{numeric[0]}: the grid sampler searches choice(...) keys "
                "only (a,b,c or choice(a,b,c)); an interval has no grid"
            )
        grid = {k: list(cast(CategoricalDistribution, d).choices) for k, d in space.items()}
        points = math.prod(len(choices) for choices in grid.values())
        if self.n_trials > points:
            raise SearchError(
                f"hydra.sweeper.n_trials={self.n_trials} is more than the grid's {points} points"
            )
        return grid

    def _run(
        self,
        built: "optuna.Study",
        storage: "optuna.storages.RDBStorage",
        name: str,
        url: str,
        space: "dict[str, BaseDistribution]",
        fixed: list[str],
    ) -> None:
        from optuna.trial import TrialState

        sweep_dir = Path(self.cfg.hydra.sweep.dir)
        single = len(self.directions) == 1
        pruner_conf = (
            _option("pruner", self.pruner_conf) if isinstance(self.pruner_conf, str) else self.pruner_conf
        )
        pruner = cast(dict[str, Any], OmegaConf.to_container(pruner_conf)) if single else None
        from mtrec.app import sweep_state, trials

        sweep_state.write_study(sweep_dir, url, name, pruner)
        self._reseed(built, space)
        abandoned = study.fail_abandoned(built)
        if abandoned:
            log.info(f"study {name}: trials {abandoned} were RUNNING in a process that is gone: FAIL")
        earlier = [t.number for t in built.get_trials(deepcopy=False, states=study.done_states())]
        if earlier:
            trials.record_earlier(sweep_dir, name, earlier)
        log.info(f"study {name} in {url}: {len(earlier)} of {self.n_trials} trials done before this command")
        asked = 0
        with study.Heartbeats(storage, name, self.heartbeat_interval) as heartbeats:
            while True:
                done = study.count(built, study.done_states())
                running = study.count(built, (TrialState.RUNNING,))
                size = min(self.n_jobs, self.n_trials - done - running, self.n_trials - asked)
                if size <= 0:
                    break
                with warnings.catch_warnings():  # our heartbeats stand in for optimize()'s
                    warnings.filterwarnings("ignore", "Heartbeat of storage", UserWarning)
                    batch = [built.ask(space) for _ in range(size)]
                for trial in batch:
                    study.claim(trial)
                    heartbeats.numbers.add(trial.number)
                heartbeats.beat()
                overrides = [
                    (*(as_override(k, t.params[k]) for k in space), *fixed, f"trial.number={t.number}")
                    for t in batch
                ]
                try:
                    returns = self.job_launcher.launch(overrides, initial_job_idx=self.job_idx)
                except BaseException:  # Ctrl-C, a launcher's own error: no trial stays RUNNING
                    for trial in batch:
                        with contextlib.suppress(Exception):
                            built.tell(trial, state=TrialState.FAIL)
                    raise
                self.job_idx += len(batch)
                asked += len(batch)
                for trial, ret in zip(batch, returns):
                    _tell(built, trial, ret)
                    heartbeats.numbers.discard(trial.number)
        _write_results(built, sweep_dir / self.results_file)

    def _reseed(self, built: "optuna.Study", space: "dict[str, BaseDistribution]") -> None:
        """A fixed seed, shifted by the trials the study holds: a resumed search then does not
        sample the first run's points again (the same seed restarts the same random sequence)."""
        conf = (
            _option("sampler", self.sampler_conf) if isinstance(self.sampler_conf, str) else self.sampler_conf
        )
        seed = conf.get("seed")
        held = len(built.get_trials(deepcopy=False))
        if seed is not None and held:
            built.sampler = self._build(OmegaConf.merge(conf, {"seed": seed + held}), "sampler", space)


def _option(what: str, name: str) -> DictConfig:
    """The config of ``hydra/sweeper/<what>=<name>``, for ``hydra.sweeper.<what>=<name>``."""
    options = config.SAMPLERS if what == "sampler" else config.PRUNERS
    if name not in options:
        raise SearchError(f"hydra.sweeper.{what} must be one of {sorted(options)} (got {name!r})")
    return OmegaConf.structured(options[name])


def _some_value(d: "BaseDistribution") -> Any:
    from optuna.distributions import CategoricalDistribution

    return d.choices[0] if isinstance(d, CategoricalDistribution) else d.low  # type: ignore[attr-defined]


def _tell(built: "optuna.Study", trial: "optuna.trial.Trial", ret: Any) -> None:
    """Tells the study how a job ended: its values, PRUNED, or FAIL (an exception, NaN, None)."""
    import optuna
    from optuna.trial import TrialState

    try:
        with contextlib.redirect_stderr(io.StringIO()):  # Hydra's "Error executing job" line
            values = ret.return_value
    except optuna.TrialPruned:
        built.tell(trial, state=TrialState.PRUNED)
        log.info(f"trial {trial.number}: PRUNED")
        return
    except Exception as e:
        built.tell(trial, state=TrialState.FAIL)
        log.warning(f"trial {trial.number}: FAIL ({type(e).__name__}: {e})")
        return
    values = list(values) if isinstance(values, Sequence) else [values]
    if len(values) != len(built.directions) or not all(
        isinstance(v, int | float) and math.isfinite(v) for v in values
    ):
        built.tell(trial, state=TrialState.FAIL)
        log.warning(f"trial {trial.number}: FAIL (the job returned {values})")
        return
    built.tell(trial, [float(v) for v in values])


def _write_results(built: "optuna.Study", path: Path) -> None:
    """``optimization_results.yaml``, as hydra-optuna-sweeper wrote it: the best trial(s)."""
    from optuna.trial import TrialState

    if not built.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return
    if len(built.directions) == 1:
        results: dict[str, Any] = {
            "name": "optuna",
            "best_params": built.best_params,
            "best_value": built.best_value,
        }
    else:
        solutions = [{"params": t.params, "values": t.values} for t in built.best_trials]
        results = {"name": "optuna", "solutions": solutions}
    path.parent.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(OmegaConf.create(results), path)


def _exit_with_error(error: Exception) -> NoReturn:
    print(f"mtrec: error: {error}", file=sys.stderr)
    sys.exit(2)
