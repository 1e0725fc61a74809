"""Typed config schemas, their ConfigStore registration and the checks Hydra cannot express.

Values live in ``conf/``; every YAML option names its schema in its ``defaults`` list (Hydra's
"schema" pattern), so a misspelt key or a wrong type fails at composition. Range and cross-field
checks that types cannot carry live in :func:`validate` and run before TensorFlow does any work.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

DATASET_KINDS = ("movielens", "synthetic")
OPTIMIZERS = ("adagrad", "adam", "sgd")
REDUCTIONS = ("sum", "mean")
GOALS = ("min", "max")
STRATEGIES = ("default", "mirrored", "multi_worker")


class ConfigError(ValueError):
    """A config value that composes but cannot be run; the message names the full key."""


@dataclass
class DatasetConfig:
    """Where interactions come from and how they are split.

    ``kind=movielens`` reads ``path`` (an unpacked GroupLens archive) when it is set, else TFDS
    ``{tfds_name}-ratings`` / ``{tfds_name}-movies``. ``kind=synthetic`` generates interactions.
    """

    name: str = MISSING
    kind: str = "movielens"
    tfds_name: str = "movielens/100k"
    path: str | None = None
    data_dir: str | None = None
    test_fraction: float = 0.2
    split_seed: int = 42
    # synthetic only
    num_users: int = 0
    num_movies: int = 0
    num_interactions: int = 0
    num_factors: int = 8


@dataclass
class ModelConfig:
    embedding_dim: int = 32
    rating_hidden_units: list[int] = field(default_factory=lambda: [256, 128])


@dataclass
class OptimizerConfig:
    name: str = "adagrad"
    lr: float = 0.1


@dataclass
class LossConfig:
    rating_weight: float = 1.0
    retrieval_weight: float = 1.0
    # "sum" is TFRS's (the in-batch softmax loss summed over the batch, ~1e4-1e5 at batch 8192,
    # next to an MSE of ~1); "mean" divides it by the batch size, so the weights compare like for like.
    retrieval_reduction: str = "sum"


@dataclass
class TrainerConfig:
    epochs: int = 3
    batch_size: int = 8192
    eval_batch_size: int = 4096
    seed: int = 42
    top_k: list[int] = field(default_factory=lambda: [1, 5, 10, 50, 100])
    verbose: bool = True
    # tf.distribute strategy: "default" (one device), "mirrored" (local GPUs, or logical CPUs),
    # "multi_worker" (the cluster in TF_CONFIG). batch_size is the global batch, over all replicas.
    strategy: str = "default"


@dataclass
class TrackingConfig:
    enabled: bool = True
    uri: str = "sqlite:///mlflow.db"
    experiment: str = "mtrec"
    run_name: str | None = None
    log_artifacts: bool = True
    # Export the trained model (SavedModel + MLflow pyfunc "model"); mtrec-predict/-recommend use it.
    log_model: bool = True


@dataclass
class ParetoObjective:
    metric: str = "test/rmse"
    goal: str = "min"


@dataclass
class SweepConfig:
    """Multirun behaviour: resuming, and the objectives of the end-of-sweep Pareto report."""

    # Skip a job whose resolved config already has a FINISHED run in the experiment.
    resume: bool = True
    pareto: list[ParetoObjective] = field(
        default_factory=lambda: [
            ParetoObjective("test/rmse", "min"),
            ParetoObjective("test/top_100_accuracy", "max"),
        ]
    )


@dataclass
class Config:
    dataset: DatasetConfig = MISSING
    model: ModelConfig = MISSING
    optimizer: OptimizerConfig = MISSING
    loss: LossConfig = MISSING
    trainer: TrainerConfig = MISSING
    tracking: TrackingConfig = MISSING
    # Metric(s) the Hydra task returns, so sweepers can optimise them.
    objectives: list[str] = field(default_factory=lambda: ["test/rmse"])
    sweep: SweepConfig = field(default_factory=SweepConfig)
    # Compose, validate, load data and build the model, but do not train or log.
    dry_run: bool = False


def register_configs() -> None:
    """Registers the schemas that the YAML options in ``conf/`` name in their defaults."""
    cs = ConfigStore.instance()
    cs.store(name="config_schema", node=Config)
    for group, node in [
        ("dataset", DatasetConfig),
        ("model", ModelConfig),
        ("optimizer", OptimizerConfig),
        ("loss", LossConfig),
        ("trainer", TrainerConfig),
        ("tracking", TrackingConfig),
    ]:
        cs.store(group=group, name=f"{group}_schema", node=node)


def _require(ok: bool, key: str, allowed: str, value: object) -> None:
    if not ok:
        raise ConfigError(f"{key} must be {allowed} (got {value!r})")


def validate(cfg: Config) -> None:
    """Checks ranges and cross-field rules that need no data.

    Raises:
      ConfigError: naming the first offending key and what it allows.
    """
    d = cfg.dataset
    _require(d.kind in DATASET_KINDS, "dataset.kind", f"one of {DATASET_KINDS}", d.kind)
    _require(0.0 < d.test_fraction < 1.0, "dataset.test_fraction", "in (0, 1)", d.test_fraction)
    if d.kind == "synthetic":
        _require(d.path is None, "dataset.path", "unset for a synthetic dataset", d.path)
        for key in ("num_users", "num_movies", "num_interactions", "num_factors"):
            value = getattr(d, key)
            _require(value > 0, f"dataset.{key}", "> 0", value)

    m = cfg.model
    _require(m.embedding_dim > 0, "model.embedding_dim", "> 0", m.embedding_dim)
    for i, units in enumerate(m.rating_hidden_units):
        _require(units > 0, f"model.rating_hidden_units[{i}]", "> 0", units)

    o = cfg.optimizer
    _require(o.name in OPTIMIZERS, "optimizer.name", f"one of {OPTIMIZERS}", o.name)
    _require(math.isfinite(o.lr) and o.lr > 0, "optimizer.lr", "> 0", o.lr)

    w = cfg.loss
    for key in ("rating_weight", "retrieval_weight"):
        value = getattr(w, key)
        _require(math.isfinite(value) and value >= 0, f"loss.{key}", ">= 0", value)
    _require(
        w.retrieval_reduction in REDUCTIONS,
        "loss.retrieval_reduction",
        f"one of {REDUCTIONS}",
        w.retrieval_reduction,
    )
    if w.rating_weight == 0 and w.retrieval_weight == 0:
        raise ConfigError(
            "loss.rating_weight and loss.retrieval_weight are both 0: nothing would be trained; "
            "set at least one > 0"
        )

    t = cfg.trainer
    for key in ("epochs", "batch_size", "eval_batch_size"):
        value = getattr(t, key)
        _require(value > 0, f"trainer.{key}", "> 0", value)
    _require(t.strategy in STRATEGIES, "trainer.strategy", f"one of {STRATEGIES}", t.strategy)
    _require(len(t.top_k) > 0, "trainer.top_k", "a non-empty list", list(t.top_k))
    for i, k in enumerate(t.top_k):
        _require(k > 0, f"trainer.top_k[{i}]", "> 0", k)

    known = test_metric_names(t.top_k)
    for i, name in enumerate(cfg.objectives):
        _require(name in known, f"objectives[{i}]", f"one of {known}", name)
    for i, objective in enumerate(cfg.sweep.pareto):
        _require(objective.metric in known, f"sweep.pareto[{i}].metric", f"one of {known}", objective.metric)
        _require(objective.goal in GOALS, f"sweep.pareto[{i}].goal", f"one of {GOALS}", objective.goal)
    _require(len(cfg.sweep.pareto) == 2, "sweep.pareto", "a list of two objectives", len(cfg.sweep.pareto))


def test_metric_names(top_k: list[int]) -> list[str]:
    """Every ``test/*`` metric a run reports, in display order."""
    names = ["test/loss", "test/rating_loss", "test/retrieval_loss", "test/rmse"]
    return names + [f"test/top_{k}_accuracy" for k in top_k]


def validate_against_data(cfg: Config, num_movies: int) -> None:
    """Checks the rules that need the loaded dataset (still before any TensorFlow work)."""
    for i, k in enumerate(cfg.trainer.top_k):
        _require(
            k <= num_movies,
            f"trainer.top_k[{i}]",
            f"<= the number of candidate movies ({num_movies})",
            k,
        )
