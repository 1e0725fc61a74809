"""Config composition and validation: no TensorFlow needed, milliseconds each."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, ValidationError

from mtrec.config import CONF_DIR, ConfigError, register_configs, validate, validate_against_data
from tests.helpers import compose_config, run_script

RMSE, TOP_100 = "{metric:test/rmse,goal:min}", "{metric:test/top_100_accuracy,goal:max}"
GROUPS = ["dataset", "model", "optimizer", "loss", "trainer", "tracking", "experiment", "hparams_search"]


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (Path(CONF_DIR) / group).glob("*.yaml"))


@pytest.mark.parametrize("group,option", [(g, o) for g in GROUPS for o in options(g)])
def test_every_option_composes_and_validates(group: str, option: str) -> None:
    # dataset=table has no default file: it composes with the docs' example table.
    extra = ["dataset.path=docs/examples/interactions.csv"] if (group, option) == ("dataset", "table") else []
    cfg = compose_config(f"{group}={option}", *extra)
    validate(cfg)
    if group not in ("experiment", "hparams_search"):
        assert cfg[group] is not None


def test_defaults_are_the_tutorial() -> None:
    cfg = compose_config()
    assert cfg.dataset.name == "movielens_100k" and cfg.dataset.test_fraction == 0.2
    assert cfg.dataset.split_seed == 42
    assert cfg.model.embedding_dim == 32 and list(cfg.model.rating_hidden_units) == [256, 128]
    assert cfg.optimizer.name == "adagrad" and cfg.optimizer.lr == 0.1
    assert (cfg.loss.rating_weight, cfg.loss.retrieval_weight) == (1.0, 1.0)
    assert (cfg.trainer.epochs, cfg.trainer.batch_size, cfg.trainer.eval_batch_size) == (3, 8192, 4096)
    assert list(cfg.trainer.top_k) == [1, 5, 10, 50, 100]
    # Unset: MLflow's variables decide, else sqlite:///mlflow.db (mtrec.tracking.store.resolve_target).
    assert cfg.tracking.uri is None and cfg.tracking.experiment is None


def test_loss_options_set_the_tutorial_weights() -> None:
    def weights(option: str) -> tuple[float, float, str]:
        loss = compose_config(f"loss={option}").loss
        return loss.rating_weight, loss.retrieval_weight, loss.retrieval_reduction

    assert {o: weights(o) for o in options("loss")} == {
        "joint": (1.0, 1.0, "sum"),
        "rating_only": (1.0, 0.0, "sum"),
        "retrieval_only": (0.0, 1.0, "sum"),
        "normalized": (1.0, 1.0, "mean"),
    }


def test_misspelt_key_fails_at_composition() -> None:
    with pytest.raises(ConfigCompositionException) as e:
        compose_config("loss.rating_wieght=1")
    assert isinstance(e.value.__cause__, (ConfigAttributeError, ConfigKeyError))
    assert "full_key: loss.rating_wieght" in str(e.value.__cause__)


def test_wrong_type_fails_at_composition() -> None:
    with pytest.raises(ConfigCompositionException) as e:
        compose_config("trainer.epochs=three")
    assert isinstance(e.value.__cause__, ValidationError)
    assert "trainer.epochs" in str(e.value.__cause__)


@pytest.mark.parametrize(
    "override,message",
    [
        ("loss.rating_weight=-1", "loss.rating_weight must be >= 0 (got -1.0)"),
        ("loss.retrieval_weight=nan", "loss.retrieval_weight must be >= 0"),
        ("loss=rating_only loss.rating_weight=0", "are all 0"),
        ("model.embedding_dim=0", "model.embedding_dim must be > 0 (got 0)"),
        ("model.rating_hidden_units=[64,-2]", "model.rating_hidden_units[1] must be > 0"),
        ("optimizer.lr=0", "optimizer.lr must be > 0 (got 0.0)"),
        ("optimizer.name=rmsprop", "optimizer.name must be one of"),
        ("trainer.epochs=0", "trainer.epochs must be > 0"),
        ("trainer.batch_size=-8", "trainer.batch_size must be > 0"),
        ("trainer.eval_batch_size=0", "trainer.eval_batch_size must be > 0"),
        ("trainer.top_k=[]", "trainer.top_k must be a non-empty list"),
        ("trainer.top_k=[0,5]", "trainer.top_k[0] must be > 0"),
        ("dataset.test_fraction=1.0", "dataset.test_fraction must be in (0, 1)"),
        ("dataset.test_fraction=0", "dataset.test_fraction must be in (0, 1)"),
        ("dataset=synthetic dataset.num_users=0", "dataset.num_users must be > 0"),
        ("dataset=synthetic dataset.path=/data", "dataset.path must be unset for a synthetic"),
        ("objectives=[test/rmsee]", "objectives[0] must be one of"),
        ("loss.retrieval_reduction=avg", "loss.retrieval_reduction must be one of ('sum', 'mean')"),
        (
            "loss.weighting=learned",
            "loss.weighting must be one of ('fixed', 'uncertainty', 'gradnorm') (got 'learned')",
        ),
        ("loss.gradnorm_alpha=-1", "loss.gradnorm_alpha must be >= 0 (got -1.0)"),
        (
            "loss.weighting=gradnorm trainer.strategy=mirrored",
            "trainer.strategy must be default with loss.weighting=gradnorm",
        ),
        (
            "sweep.pareto=[{metric:test/rmse,goal:min}]",
            "sweep.pareto must be a list of at least two objectives",
        ),
        ("sweep.pareto=[]", "sweep.pareto must be a list of at least two objectives (got 0)"),
        ("sweep.pareto.0.goal=lowest", "sweep.pareto[0].goal must be one of ('min', 'max')"),
        (
            f"sweep.pareto=[{RMSE},{TOP_100},{{metric:test/ndcg_at_10,goal:up}}]",
            "sweep.pareto[2].goal must be one of ('min', 'max') (got 'up')",
        ),
        (
            f"sweep.pareto=[{RMSE},{TOP_100},{{metric:test/rmse,goal:max}}]",
            "sweep.pareto[2].metric must be different from sweep.pareto[0].metric (got 'test/rmse')",
        ),
        ("trainer.top_k=[1,5]", "sweep.pareto[1].metric must be one of"),
        ("model.mmoe_experts=-1", "model.mmoe_experts must be >= 0 (got -1)"),
        (
            "model.mmoe_experts=2 model.mmoe_expert_units=[]",
            "model.mmoe_expert_units must be a non-empty list when model.mmoe_experts > 0 (got [])",
        ),
        (
            "model.mmoe_experts=2 model.mmoe_expert_units=[8,0]",
            "model.mmoe_expert_units[1] must be > 0 (got 0)",
        ),
        (
            "model.mmoe_experts=2 ~tasks.rating",
            "model.mmoe_experts must be 0 when no task is a regression or binary task",
        ),
        ("baselines.max_items=0", "baselines.max_items must be > 0 (got 0)"),
        ("baselines.ease_l2=[100,0]", "baselines.ease_l2[1] must be > 0 (got 0"),
        ("baselines.ease_l2=[]", "baselines.ease_l2 must be a non-empty list"),
        ("baselines.selection_fraction=1", "baselines.selection_fraction must be in (0, 1)"),
        ("baselines.knn_neighbours=0", "baselines.knn_neighbours must be > 0"),
        ("baselines.knn_shrinkage=-1", "baselines.knn_shrinkage must be >= 0"),
    ],
)
def test_bad_values_name_the_key(override: str, message: str) -> None:
    cfg = compose_config(*override.split())
    with pytest.raises(ConfigError) as e:
        validate(cfg)
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_sweep_pareto_takes_any_number_of_objectives() -> None:
    objectives = [RMSE, TOP_100, "{metric:test/ndcg_at_10,goal:max}", "{metric:test/recall_at_100,goal:max}"]
    for count in (2, 3, 4):
        cfg = compose_config(f"sweep.pareto=[{','.join(objectives[:count])}]")
        validate(cfg)
        assert len(cfg.sweep.pareto) == count


def test_search_recipes_optimise_what_their_report_plots() -> None:
    # An Optuna search's directions, the objectives the task returns and the report's Pareto
    # objectives are three lists in a recipe; a recipe that changes one must change all three.
    register_configs()
    for option in options("hparams_search"):
        with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
            cfg = compose(
                config_name="config", overrides=[f"hparams_search={option}"], return_hydra_config=True
            )
        directions = cfg.hydra.sweeper.get("direction")
        if directions is None:
            continue  # a grid: nothing optimised
        pareto = cfg.sweep.pareto
        assert list(cfg.objectives) == [o.metric for o in pareto], option
        assert list(directions) == [{"min": "minimize", "max": "maximize"}[o.goal] for o in pareto], option


def test_top_k_is_checked_against_the_catalogue() -> None:
    cfg = compose_config("trainer.top_k=[1,100]")
    validate_against_data(cfg, num_movies=100)
    with pytest.raises(
        ConfigError, match=r"trainer.top_k\[1\] must be <= the number of candidate movies \(99\)"
    ):
        validate_against_data(cfg, num_movies=99)


def test_side_features_need_a_dataset_that_has_them() -> None:
    cfg = compose_config("experiment=smoke", "model.movie_features=true", "model.user_features=true")
    validate_against_data(cfg, num_movies=100, side_features=("movie", "user"))
    with pytest.raises(
        ConfigError, match=r"^model.user_features must be false: dataset synthetic has no user"
    ):
        validate_against_data(cfg, num_movies=100, side_features=("movie",))
    with pytest.raises(
        ConfigError, match=r"^model.movie_features must be false: dataset synthetic has no movie"
    ):
        validate_against_data(cfg, num_movies=100, side_features=())


def test_composition_needs_no_tensorflow() -> None:
    out = run_script("compose_without_tensorflow.py")
    assert out.stdout.strip() == "False"


def test_ray_launcher_leaves_the_object_store_size_to_ray() -> None:
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(config_name="config", overrides=["hydra/launcher=ray"], return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_ == "hydra_plugins.hydra_ray_launcher.ray_launcher.RayLauncher"
    # Set (to null), so the plugin's setdefault adds no size that Ray refuses on a running cluster.
    assert "object_store_memory" in launcher.ray.init and launcher.ray.init.object_store_memory is None
