"""hydra/sweeper=optuna without training: search spaces, study names and storage, trials of dead processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import optuna
import pytest
from hydra import compose, initialize_config_dir
from hydra._internal.callbacks import Callbacks
from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra._internal.utils import create_config_search_path
from hydra.core.plugins import Plugins
from hydra.types import HydraContext, RunMode
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from hydra_plugins.mtrec_optuna import study
from hydra_plugins.mtrec_optuna.search_space import SearchSpaceError, parse
from mtrec.config import CONF_DIR, register_configs
from tests.helpers import compose_config, repo_env, run_mtrec


def test_search_spaces_parse_as_hydra_optuna_sweeper_wrote_them() -> None:
    params = {
        "optimizer.lr": "tag(log, interval(0.001, 0.01))",
        "model.dropout": "interval(0.0, 0.5)",
        "model.rating_factors": "choice(0, 32, 64)",
        "model.embedding_dim": "range(8, 33, 8)",
        "trainer.epochs": "3",
    }
    space, fixed = parse(params, ["optimizer=choice(adam,sgd)", "experiment=smoke"])
    assert space == {
        "optimizer.lr": FloatDistribution(0.001, 0.01, log=True),
        "model.dropout": FloatDistribution(0.0, 0.5),
        "model.rating_factors": CategoricalDistribution([0, 32, 64]),
        "model.embedding_dim": IntDistribution(8, 32, step=8),
        "optimizer": CategoricalDistribution(["adam", "sgd"]),
    }
    assert fixed == ["trainer.epochs=3", "experiment=smoke"]
    # Hydra's interval() holds floats; tag(int, ...) asks for an int.
    assert parse({"x": "interval(1, 4)"}, [])[0] == {"x": FloatDistribution(1.0, 4.0)}
    assert parse({"x": "tag(int, interval(1, 4))"}, [])[0] == {"x": IntDistribution(1, 4)}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"x": "glob(*)"}, "glob(*) is no search space"),
        ({"x": "interval(2, 1)"}, "interval(2.0, 1.0) needs low < high"),
        ({"x": "tag(log, interval(0, 1))"}, "needs 0 < low < high"),
        ({"x": "tag(loog, interval(1, 2))"}, "unknown tag(s) ['loog']"),
        ({"x": "interval(1"}, "hydra.sweeper.params:"),
    ],
)
def test_bad_search_spaces_name_the_key(params: dict[str, str], message: str) -> None:
    # By its base: Hydra's plugin scan may execute the plugin's modules again (a new class object).
    with pytest.raises(ValueError) as raised:
        parse(params, [])
    assert type(raised.value).__name__ == SearchSpaceError.__name__ and message in str(raised.value)


def test_default_study_is_named_from_the_search_and_stored_beside_mlflow(tmp_path: Path) -> None:
    space = {"loss.rating_weight": FloatDistribution(0.001, 10, log=True)}
    name = study.default_name("loss_weights_pareto", space, ["experiment=smoke"], ["minimize"], ["test/rmse"])
    assert name.startswith("loss_weights_pareto-") and len(name) == len("loss_weights_pareto-") + 12
    # What is recorded or run elsewhere does not change the study; what is searched does.
    same = ["experiment=smoke", "hydra.sweeper.n_trials=50", "tracking.log_model=false", "sweep.resume=false"]
    assert study.default_name("loss_weights_pareto", space, same, ["minimize"], ["test/rmse"]) == name
    other = ["experiment=smoke", "dataset.path=elsewhere"]
    assert study.default_name("loss_weights_pareto", space, other, ["minimize"], ["test/rmse"]) != name
    assert (
        study.default_storage(f"sqlite:///{tmp_path}/runs/mlflow.db")
        == f"sqlite:///{tmp_path}/runs/optuna.db"
    )
    assert study.default_storage("http://127.0.0.1:5000").endswith("/optuna.db")


def test_a_dead_process_trial_fails_and_a_live_one_stays(tmp_path: Path) -> None:
    built, _ = study.open_study(
        f"sqlite:///{tmp_path}/optuna.db",
        "s",
        ["minimize"],
        optuna.samplers.RandomSampler(seed=0),
        optuna.pruners.NopPruner(),
        heartbeat_interval=10,
        grace_period=120,
    )
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    dead, alive = built.ask(), built.ask()
    study.claim(alive)
    dead.set_user_attr(study.OWNER_ATTR, {**alive.user_attrs[study.OWNER_ATTR], "mtrec.pid": str(gone.pid)})
    assert study.fail_abandoned(built) == [dead.number]
    states = {t.number: t.state for t in built.get_trials()}
    assert states == {dead.number: TrialState.FAIL, alive.number: TrialState.RUNNING}


def test_every_search_recipe_composes_with_the_optuna_sweeper() -> None:
    for recipe, sampler in [("loss_weights_pareto", "NSGAIISampler"), ("best_joint", "NSGAIISampler")]:
        assert compose_config(f"hparams_search={recipe}").trial.number is None
        with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
            full = compose(
                config_name="config", overrides=[f"hparams_search={recipe}"], return_hydra_config=True
            )
        assert full.hydra.sweeper._target_ == "hydra_plugins.mtrec_optuna.sweeper.OptunaSweeper"
        assert full.hydra.sweeper.sampler._target_ == f"optuna.samplers.{sampler}"
        assert full.hydra.sweeper.pruner._target_ == "optuna.pruners.MedianPruner"


PLUGIN_SCAN = """
import sys
from hydra.core.config_store import ConfigStore
from hydra.core.plugins import Plugins
Plugins.instance()
print(sorted(m for m in ("optuna", "mlflow", "tensorflow") if m in sys.modules))
groups = ConfigStore.instance().repo["hydra"]["sweeper"]
print(sorted(groups["sampler"]), sorted(groups["pruner"]), "optuna.yaml" in groups, "methods.yaml" in groups)
"""


def test_the_plugin_scan_imports_no_optuna_and_registers_the_sweeper_configs() -> None:
    # Hydra's plugin scan runs in every mtrec process: it executes mtrec's plugin modules, which
    # register their configs and leave Optuna (and MLflow, TensorFlow) to the sweep that needs them.
    out = subprocess.run(
        [sys.executable, "-c", PLUGIN_SCAN], env=repo_env(), capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out == [
        "[]",
        "['gp.yaml', 'grid.yaml', 'nsgaii.yaml', 'random.yaml', 'tpe.yaml'] "
        "['median.yaml', 'nop.yaml', 'threshold.yaml'] True True",
    ]


def search(tmp_path: Path, *overrides: str) -> None:
    """Sets up the sweeper ``mtrec -m hparams_search=loss_weights_pareto OVERRIDES`` gets and
    starts its sweep, with a task that records nothing (the bad input stops it first)."""
    sweeper, arguments = searcher(tmp_path, *overrides)
    sweeper.sweep(arguments=arguments)


def searcher(tmp_path: Path, *overrides: str) -> tuple[Any, list[str]]:
    """The sweeper ``mtrec -m hparams_search=loss_weights_pareto OVERRIDES`` gets, set up, and its
    arguments."""
    register_configs()
    loader = ConfigLoaderImpl(config_search_path=create_config_search_path(CONF_DIR))
    arguments = ["hparams_search=loss_weights_pareto", "experiment=smoke", *overrides]
    master = loader.load_configuration(
        "config", overrides=[f"hydra.sweep.dir={tmp_path}", *arguments], run_mode=RunMode.MULTIRUN
    )
    context = HydraContext(config_loader=loader, callbacks=Callbacks())
    sweeper = Plugins.instance().instantiate_sweeper(
        config=master, hydra_context=context, task_function=print
    )
    return sweeper, arguments


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "model.nosuch=interval(0,1)",
            "search space: Could not override 'model.nosuch'. (Key 'nosuch' not in",
        ),
        ("optimizer.lr=choice(a,b)", "search space: Error merging override optimizer.lr=a"),
        (
            "hydra.sweeper.sampler=cmaes",
            "hydra.sweeper.sampler must be one of ['gp', 'grid', 'nsgaii', 'random', 'tpe']",
        ),
        ("hydra.sweeper.sampler._target_=optuna.samplers.Nope", "hydra.sweeper.sampler: cannot build"),
        ("hydra.sweeper.direction=[minimize,up]", "hydra.sweeper.direction[1] must be one of"),
        ("hydra.sweeper.storage=sqlite:////no/such/dir/optuna.db", "unable to open database file"),
        (
            "hydra.sweeper.sampler=grid",  # the recipe's weights are intervals
            "hydra.sweeper.params.loss.rating_weight: the grid sampler searches choice(...) keys only",
        ),
    ],
)
def test_bad_search_input_is_one_line_and_exit_2(tmp_path: Path, capsys, override: str, message: str) -> None:
    with pytest.raises(SystemExit) as exited:
        search(tmp_path, override)
    assert exited.value.code == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith("mtrec: error: ") and message in errors[0], errors
    assert not (tmp_path / "0").exists()


@pytest.mark.slow
def test_the_command_exits_2_before_any_trial(tmp_path: Path) -> None:
    out = run_mtrec(
        tmp_path,
        "hparams_search=loss_weights_pareto",
        "experiment=smoke",
        "hydra.sweeper.direction=[minimize]",
        "hydra.sweep.dir=s",
    )
    assert out.returncode == 2, out.stderr[-3000:]
    errors = [line for line in out.stderr.splitlines() if line.startswith("mtrec: error:")]
    assert errors == [
        "mtrec: error: hydra.sweeper.direction has 1 entries and objectives has 2 "
        "(['test/rmse', 'test/top_100_accuracy']); give one direction per objective"
    ]
    assert not (tmp_path / "s" / "0").exists()


def test_the_grid_sampler_asks_every_point_once(tmp_path: Path) -> None:
    launched: list[list[str]] = []

    class Recorder:
        def launch(self, batch, initial_job_idx):
            launched.extend(list(overrides) for overrides in batch)
            return [SimpleNamespace(return_value=[1.0, float(i)]) for i in range(len(batch))]

    grid = [
        "hydra.sweeper.sampler=grid",
        "hydra.sweeper.n_jobs=3",
        f"hydra.sweeper.storage=sqlite:///{tmp_path / 'optuna.db'}",
        "loss.rating_weight=choice(0.1,1)",
        "loss.retrieval_weight=choice(1,10)",
    ]
    sweeper, arguments = searcher(tmp_path, *grid, "hydra.sweeper.n_trials=4")
    sweeper.job_launcher = Recorder()
    sweeper.sweep(arguments=arguments)
    points = sorted(tuple(o for o in overrides if o.startswith("loss.")) for overrides in launched)
    assert points == [
        ("loss.rating_weight=0.1", "loss.retrieval_weight=1"),
        ("loss.rating_weight=0.1", "loss.retrieval_weight=10"),
        ("loss.rating_weight=1", "loss.retrieval_weight=1"),
        ("loss.rating_weight=1", "loss.retrieval_weight=10"),
    ]
    with pytest.raises(SystemExit) as exited:  # a fifth point does not exist
        search(tmp_path, *grid, "hydra.sweeper.n_trials=5")
    assert exited.value.code == 2
