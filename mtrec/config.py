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
    # Share of training rows whose rating label the model may use (sampled by trainer.seed); the
    # others still train retrieval but add no rating loss. 1.0 keeps every label.
    rating_fraction: float = 1.0
    # synthetic only
    num_users: int = 0
    num_movies: int = 0
    num_interactions: int = 0
    num_factors: int = 8


@dataclass
class ModelConfig:
    """The tutorial's model (the defaults) and the levers of ``experiment=best_joint``.

    See ``mtrec.model.ModelOptions`` for what each lever does.
    """

    embedding_dim: int = 32
    rating_hidden_units: list[int] = field(default_factory=lambda: [256, 128])
    biases: bool = False
    # With biases: use Koren's ALS baseline biases (fitted on the labelled training ratings), untrained.
    baseline_biases: bool = False
    rating_factors: int = 0
    interaction_features: bool = False
    dropout: float = 0.0
    embedding_l2: float = 0.0
    rating_l2: float = 0.0
    temperature: float = 1.0
    # Subtract log(training frequency) of each in-batch candidate from its logit, times
    # logq_weight: 1 is the unbiased correction; above 1 the learned scores keep some popularity
    # (log frequency x (logq_weight - 1)), which top-K accuracy over every movie rewards.
    logq_correction: bool = False
    logq_weight: float = 1.0
    # Wherever movies are ranked (top-K metrics, Recall/NDCG, the export's recommend), add
    # popularity_prior x log(training frequency) to each movie's score; training is unchanged.
    popularity_prior: float = 0.0
    # Add SVD++-style implicit feedback (the user's training movies) to the user tower.
    user_history: bool = False
    # Add a learned projection of the MovieLens side features to the movie tower (genres, release
    # decade) and to the user tower (gender, age, occupation: ml-100k and ml-1m only).
    movie_features: bool = False
    user_features: bool = False


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
    # Each query's negatives: "in_batch" (TFRS's in-batch softmax) or "all" (every movie: an exact
    # softmax over the catalogue, for catalogues small enough to score whole each step).
    retrieval_candidates: str = "in_batch"


@dataclass
class EarlyStoppingConfig:
    """Stop when ``metric`` (a ``val/*`` metric) has not improved for ``patience`` epochs, then
    restore the weights of its best epoch. ``metric: null`` trains every epoch."""

    metric: str | None = None
    goal: str = "min"
    patience: int = 3
    min_delta: float = 0.0


@dataclass
class TrainerConfig:
    epochs: int = 3
    batch_size: int = 8192
    eval_batch_size: int = 4096
    seed: int = 42
    top_k: list[int] = field(default_factory=lambda: [1, 5, 10, 50, 100])
    # Per-user Recall@K and NDCG@K, from the same candidate embeddings as top-K accuracy.
    ranking_k: list[int] = field(default_factory=lambda: [10, 100])
    # Rank only movies the user did not rate in training (RecBole's and MS Recommenders' convention)
    # for Recall/NDCG; top-K accuracy always ranks every movie, as the tutorial does.
    exclude_seen: bool = True
    # Share of the training rows held out as a validation split (0: none, the tutorial's setup).
    val_fraction: float = 0.0
    early_stopping: EarlyStoppingConfig = field(default_factory=EarlyStoppingConfig)
    # After early stopping has chosen the epoch count on validation, train a fresh model (same seed)
    # on training + validation rows for that many epochs; test evaluates the refitted model.
    refit: bool = False
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
    _register_ray_launcher(cs)


def _register_ray_launcher(cs: ConfigStore) -> None:
    """``hydra/launcher=ray`` as hydra-ray-launcher 1.2.2 stores it, minus its object store size.

    The plugin adds ``object_store_memory`` (75 MB) to ``ray.init`` unless the key is set, and Ray 2
    refuses that argument when it joins a running cluster (``RAY_ADDRESS`` or
    ``hydra.launcher.ray.init.address``); a null leaves the size to Ray. Without the ``ray`` extra
    there is nothing to adjust.
    """
    try:
        from hydra_plugins.hydra_ray_launcher._config import RayConf, RayLauncherConf
    except ImportError:
        return
    init = {"address": None, "object_store_memory": None}
    cs.store(
        group="hydra/launcher",
        name="ray",
        node=RayLauncherConf(ray=RayConf(init=init)),
        provider="mtrec",
    )


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
    _require(0.0 < d.rating_fraction <= 1.0, "dataset.rating_fraction", "in (0, 1]", d.rating_fraction)
    if d.kind == "synthetic":
        _require(d.path is None, "dataset.path", "unset for a synthetic dataset", d.path)
        for key in ("num_users", "num_movies", "num_interactions", "num_factors"):
            value = getattr(d, key)
            _require(value > 0, f"dataset.{key}", "> 0", value)

    m = cfg.model
    _require(m.embedding_dim > 0, "model.embedding_dim", "> 0", m.embedding_dim)
    for i, units in enumerate(m.rating_hidden_units):
        _require(units > 0, f"model.rating_hidden_units[{i}]", "> 0", units)
    _require(m.rating_factors >= 0, "model.rating_factors", ">= 0", m.rating_factors)
    _require(0.0 <= m.dropout < 1.0, "model.dropout", "in [0, 1)", m.dropout)
    for key in ("embedding_l2", "rating_l2"):
        _require(getattr(m, key) >= 0, f"model.{key}", ">= 0", getattr(m, key))
    _require(m.temperature > 0, "model.temperature", "> 0", m.temperature)
    _require(m.logq_weight >= 0, "model.logq_weight", ">= 0", m.logq_weight)
    _require(
        math.isfinite(m.popularity_prior), "model.popularity_prior", "a finite number", m.popularity_prior
    )

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
    _require(
        w.retrieval_candidates in ("in_batch", "all"),
        "loss.retrieval_candidates",
        "one of ['in_batch', 'all']",
        w.retrieval_candidates,
    )
    _require(
        not (m.logq_correction and w.retrieval_candidates == "all"),
        "model.logq_correction",
        "false with loss.retrieval_candidates=all (no sampled negatives to correct)",
        m.logq_correction,
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
    for i, k in enumerate(t.ranking_k):
        _require(k > 0, f"trainer.ranking_k[{i}]", "> 0", k)
    _require(0.0 <= t.val_fraction < 1.0, "trainer.val_fraction", "in [0, 1)", t.val_fraction)
    es = t.early_stopping
    if es.metric is not None:
        _require(t.val_fraction > 0, "trainer.val_fraction", "> 0 when early stopping is on", t.val_fraction)
        val_names = metric_names("val", t.top_k, t.ranking_k)
        _require(es.metric in val_names, "trainer.early_stopping.metric", f"one of {val_names}", es.metric)
        _require(es.goal in GOALS, "trainer.early_stopping.goal", f"one of {GOALS}", es.goal)
        _require(es.patience >= 0, "trainer.early_stopping.patience", ">= 0", es.patience)
        _require(es.min_delta >= 0, "trainer.early_stopping.min_delta", ">= 0", es.min_delta)
    _require(
        not t.refit or es.metric is not None,
        "trainer.refit",
        "false unless trainer.early_stopping.metric is set (it refits for the selected epochs)",
        t.refit,
    )

    known = metric_names("test", t.top_k, t.ranking_k)
    if t.val_fraction > 0:  # Searches should select on these, never on test.
        known += metric_names("val", t.top_k, t.ranking_k)
    for i, name in enumerate(cfg.objectives):
        _require(name in known, f"objectives[{i}]", f"one of {known}", name)
    for i, objective in enumerate(cfg.sweep.pareto):
        _require(objective.metric in known, f"sweep.pareto[{i}].metric", f"one of {known}", objective.metric)
        _require(objective.goal in GOALS, f"sweep.pareto[{i}].goal", f"one of {GOALS}", objective.goal)
    _require(len(cfg.sweep.pareto) == 2, "sweep.pareto", "a list of two objectives", len(cfg.sweep.pareto))


def metric_names(prefix: str, top_k: list[int], ranking_k: list[int]) -> list[str]:
    """Every ``test/*`` (or ``val/*``) metric a run reports, in display order."""
    names = ["loss", "rating_loss", "retrieval_loss", "rmse"] + [f"top_{k}_accuracy" for k in top_k]
    names += [f"{m}_at_{k}" for k in ranking_k for m in ("recall", "ndcg")]
    return [f"{prefix}/{name}" for name in names]


def validate_against_data(
    cfg: Config, num_movies: int, side_features: tuple[str, ...] = ("movie", "user")
) -> None:
    """Checks the rules that need the loaded dataset (still before any TensorFlow work).

    ``side_features`` names the sides ("movie", "user") the dataset has side features for.
    """
    for side in ("movie", "user"):
        wanted = getattr(cfg.model, f"{side}_features")
        _require(
            side in side_features or not wanted,
            f"model.{side}_features",
            f"false: dataset {cfg.dataset.name} has no {side} features",
            wanted,
        )
    for key in ("top_k", "ranking_k"):
        for i, k in enumerate(getattr(cfg.trainer, key)):
            _require(
                k <= num_movies, f"trainer.{key}[{i}]", f"<= the number of candidate movies ({num_movies})", k
            )
