"""The typed schema of mtrec's config: one dataclass per config group, one field per key.

Values live in ``conf/``; each YAML option names its schema in its ``defaults`` list (Hydra's
"schema" pattern), so a misspelt key or a wrong type fails at composition. The string under a
field is its documentation: the configuration reference (``docs/reference/configuration.md``) is
generated from it (:mod:`mtrec.config.reference`). Ranges and cross-field rules that types cannot
carry are checked by :mod:`mtrec.config.checks`.

The model's levers are named once, here: the components take keyword arguments of the same names
(:mod:`mtrec.app.training`), so a lever is a field below plus a constructor argument, nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING, DictConfig

# The dataset section lives in its own module, re-exported here: callers keep one import.
from mtrec.config.dataset_schema import (  # noqa: F401
    DATASET_KINDS,
    DUPLICATES,
    SPLITS,
    TABLE_FORMATS,
    CatalogConfig,
    ColumnsConfig,
    DatasetConfig,
)

OPTIMIZERS = ("adagrad", "adam", "sgd")
REDUCTIONS = ("sum", "mean")
WEIGHTINGS = ("fixed", "uncertainty", "gradnorm")
CANDIDATES = ("in_batch", "all")
GOALS = ("min", "max")
STRATEGIES = ("default", "mirrored", "multi_worker")
TASK_KINDS = ("retrieval", "regression", "binary")


@dataclass
class ModelConfig:
    """The shared towers and the tasks' heads (``model=...``); the defaults are the tutorial's."""

    embedding_dim: int = 32
    """Size of the shared user and movie embeddings."""
    embedding_l2: float = 0.0
    """Per-example L2 weight on the shared user and movie embeddings."""
    user_history: bool = False
    """Add SVD++-style implicit feedback (the user's training movies) to the user tower."""
    movie_features: bool = False
    """Add a learned projection of the dataset's movie side features (genres, release decade) to
    the movie tower."""
    user_features: bool = False
    """Add a learned projection of the user side features (gender, age, occupation: ml-100k and
    ml-1m only) to the user tower."""
    rating_hidden_units: list[int] = field(default_factory=lambda: [256, 128])
    """Rating task: ReLU layer sizes of the MLP head; a ``Dense(1)`` output follows."""
    interaction_features: bool = False
    """Rating task: feed the head ``[u, m, u * m]`` instead of ``[u, m]``."""
    dropout: float = 0.0
    """Rating task: dropout rate on the head's input."""
    biases: bool = False
    """Rating task: add a global bias (starting at the training mean) and user and movie biases."""
    baseline_biases: bool = False
    """Rating task, with ``biases``: use Koren's ALS baseline biases (fitted on the labelled
    training ratings), untrained."""
    rating_factors: int = 0
    """Rating task: size of rating-only user and movie factors whose dot product is added to the
    rating (biased matrix factorisation beside the MLP head); 0 for none."""
    rating_l2: float = 0.0
    """Rating task: per-example L2 weight on the biases and rating factors."""
    temperature: float = 1.0
    """Retrieval task: the softmax's logits are divided by it."""
    logq_correction: bool = False
    """Retrieval task: subtract ``logq_weight`` x log(training frequency) of each in-batch
    candidate from its logit (the sampling-bias correction of in-batch negatives)."""
    logq_weight: float = 1.0
    """Retrieval task: 1 is the unbiased correction; above 1 the learned scores keep some
    popularity, which top-K accuracy over every movie rewards."""
    popularity_prior: float = 0.0
    """Retrieval task: wherever movies are ranked (top-K metrics, Recall/NDCG, the export's
    recommend), add ``popularity_prior`` x log(training frequency) to each movie's score;
    training is unchanged."""
    mmoe_experts: int = 0
    """Regression and binary tasks: K shared expert MLPs over the heads' input (``[u, m]``, or
    ``[u, m, u * m]`` with ``interaction_features``) and one softmax gate per task over them
    (MMoE, Ma et al. 2018); each head reads its gate's mixture. The retrieval task still reads
    the towers' embeddings. 0: no MMoE."""
    mmoe_expert_units: list[int] = field(default_factory=lambda: [64])
    """With ``mmoe_experts``: ReLU layer sizes of each expert; the last is the width every mixed
    head reads."""


@dataclass
class TaskConfig:
    """One task of the model (``tasks.<name>``): its kind, its weight in the total loss, and where
    its label comes from."""

    kind: str = MISSING
    """``retrieval`` (in-batch or full softmax, top-K accuracy, Recall/NDCG; one per model),
    ``regression`` (MLP head, MSE, RMSE) or ``binary`` (MLP head, sigmoid cross-entropy, AUC and
    log-loss)."""
    weight: float = 1.0
    """The task's weight in the total loss; 0 skips it in training (it is still evaluated)."""
    label: str | None = None
    """The column the label comes from (``rating``, or a column of the dataset such as
    ``click``). Regression and binary tasks need one; a retrieval task with one learns only from
    the rows whose label is positive (null: every row)."""
    threshold: float | None = None
    """Binary and retrieval tasks: the label is positive when the column is >= ``threshold``
    (``like``: rating >= 4); null: the column itself, which must then be 0 or 1."""
    label_fraction: float = 1.0
    """Share of training rows whose label this task may use (sampled by ``trainer.seed``); the
    other tasks still train on every row. 1.0 keeps every label."""
    hidden_units: list[int] | None = None
    """Regression and binary tasks: ReLU layer sizes of the task's MLP head (a ``Dense(1)``
    output follows); null: ``model.rating_hidden_units``."""


@dataclass
class OptimizerConfig:
    """The Keras optimizer (``optimizer=...``)."""

    name: str = "adagrad"
    """``adagrad``, ``adam`` or ``sgd``."""
    lr: float = 0.1
    """Learning rate."""


@dataclass
class LossConfig:
    """The tasks' weights in the total loss, and the retrieval loss's form (``loss=...``)."""

    rating_weight: float = 1.0
    """Weight of the rating task's loss (MSE); 0 skips the task in training. The ``rating``
    task's ``tasks.rating.weight`` reads it, in every ``tasks`` option that has that task."""
    retrieval_weight: float = 1.0
    """Weight of the retrieval task's loss (softmax cross-entropy); 0 skips it in training. Read
    by ``tasks.retrieval.weight``, likewise."""
    retrieval_reduction: str = "sum"
    """``sum`` is TFRS's (summed over the batch: ~1e4-1e5 at batch 8192, next to an MSE of ~1);
    ``mean`` divides it by the batch size, so the weights compare like for like."""
    retrieval_candidates: str = "in_batch"
    """Each query's negatives: ``in_batch`` (TFRS's in-batch softmax) or ``all`` (every movie: an
    exact softmax over the catalogue)."""
    weighting: str = "fixed"
    """How the trained tasks' losses are weighted: ``fixed`` (``sum weight x loss``), or learned
    from the tasks' weights as a start: ``uncertainty`` (Kendall et al.'s log-variances) or
    ``gradnorm`` (Chen et al.; one device only). Formulas: docs/tasks.md."""
    gradnorm_alpha: float = 1.5
    """``weighting=gradnorm``: the asymmetry alpha; 0 equalises the tasks' gradient norms, larger
    values give more weight to tasks whose loss falls slower."""


@dataclass
class EarlyStoppingConfig:
    """Stop when ``metric`` has not improved for ``patience`` epochs, then restore the weights of
    its best epoch."""

    metric: str | None = None
    """A ``val/*`` metric to watch; null trains every epoch."""
    goal: str = "min"
    """``min`` or ``max``: which way ``metric`` improves."""
    patience: int = 3
    """Epochs without improvement before stopping."""
    min_delta: float = 0.0
    """The smallest change that counts as an improvement."""
    start_from_epoch: int = 0
    """Epochs trained before ``metric`` is watched at all (Keras' ``start_from_epoch``): the
    selected epoch is one after these. For metrics measured on few labels, whose early epochs are
    mostly noise."""


@dataclass
class TrainerConfig:
    """The training schedule and the evaluation (``trainer=...``)."""

    epochs: int = 3
    """Training epochs (at most, with early stopping)."""
    batch_size: int = 8192
    """Training batch size (the global batch, over all replicas)."""
    eval_batch_size: int = 4096
    """Evaluation batch size."""
    seed: int = 42
    """Seed of the weights' initialisation, the shuffling and the rating-label mask."""
    top_k: list[int] = field(default_factory=lambda: [1, 5, 10, 50, 100])
    """The K of ``top_K_accuracy``: the share of held-out pairs whose movie ranks in the top K of
    every movie, as the tutorial measures it."""
    ranking_k: list[int] = field(default_factory=lambda: [10, 100])
    """The K of per-user ``recall_at_K`` and ``ndcg_at_K``."""
    exclude_seen: bool = True
    """Rank only movies the user did not rate in training for Recall/NDCG (RecBole's and MS
    Recommenders' convention); top-K accuracy always ranks every movie."""
    val_fraction: float = 0.0
    """Share of the training rows held out as a validation split (0: none, the tutorial's)."""
    early_stopping: EarlyStoppingConfig = field(default_factory=EarlyStoppingConfig)
    """Early stopping on a validation metric."""
    refit: bool = False
    """After early stopping has chosen the epoch count, train a fresh model (same seed) on
    training + validation rows for that many epochs; test evaluates the refitted model."""
    verbose: bool = True
    """Log each epoch's metrics."""
    strategy: str = "default"
    """``tf.distribute`` strategy: ``default`` (one device), ``mirrored`` (local GPUs, or logical
    CPUs) or ``multi_worker`` (the cluster in ``TF_CONFIG``)."""


@dataclass
class BaselinesConfig:
    """The strong baselines reported beside every run (``baseline/ease/*``, ``baseline/knn/*``),
    fitted once per split next to popularity and the bias model."""

    strong: bool = True
    """Fit EASE (retrieval) and item-kNN (regression tasks); false: popularity and the bias models
    only."""
    max_items: int = 20000
    """Skip EASE and item-kNN (with a note in the log) above this many movies: each holds a few
    movies x movies float64 matrices (3.2 GB each at 20,000)."""
    ease_l2: list[float] = field(default_factory=lambda: [50.0, 100.0, 200.0, 500.0, 1000.0])
    """EASE's L2 weights λ to choose from, by NDCG at the first ``trainer.ranking_k`` on the
    validation split (or, without one, on ``selection_fraction`` of the training rows)."""
    selection_fraction: float = 0.1
    """Without a validation split: the share of training rows EASE's λ is chosen on, carved by
    the dataset's split rule and ``dataset.split_seed``; EASE is then refitted on every training row."""
    knn_neighbours: int = 40
    """Item-kNN's k: the most similar movies the user rated that a prediction averages."""
    knn_shrinkage: float = 100.0
    """Shrinkage of item-kNN's Pearson-baseline similarities towards 0 for movies with few common
    raters (Surprise's default)."""


@dataclass
class TrackingConfig:
    """Where runs are recorded (``tracking=...``)."""

    enabled: bool = True
    """Record each run in MLflow; false: console and Hydra's output folder only."""
    uri: str | None = None
    """The MLflow tracking URI (a SQLite file, or a server's ``http://`` address); unset (null):
    ``MLFLOW_TRACKING_URI`` when set, else ``sqlite:///mlflow.db`` in the working directory. Never
    put a password in it: MLflow's ``MLFLOW_TRACKING_USERNAME``/``PASSWORD`` carry credentials."""
    experiment: str | None = None
    """The MLflow experiment, created when missing; unset (null): ``MLFLOW_EXPERIMENT_NAME`` when
    set, else ``mtrec``."""
    run_name: str | None = None
    """The run's name; default: the loss weights, then the other overrides."""
    log_artifacts: bool = True
    """Log the resolved config, Hydra's ``.hydra/`` folder and ``metrics.json``."""
    log_model: bool = True
    """Export the trained model (SavedModel + MLflow pyfunc ``model``), which mtrec-predict and
    mtrec-recommend use."""


@dataclass
class ParetoObjective:
    """One objective of the Pareto report."""

    metric: str = "test/rmse"
    """A metric every job reports."""
    goal: str = "min"
    """``min`` or ``max``."""


@dataclass
class SweepConfig:
    """Multirun behaviour: resuming, and the objectives of the end-of-sweep Pareto report."""

    resume: bool = True
    """Skip a job whose config already has a FINISHED run in the experiment."""
    pareto: list[ParetoObjective] = field(
        default_factory=lambda: [
            ParetoObjective("test/rmse", "min"),
            ParetoObjective("test/top_100_accuracy", "max"),
        ]
    )
    """The objectives of the Pareto set and plot: two or more, each metric once (three or more are
    plotted as a scatter matrix, one panel per pair). On the command line:
    ``'sweep.pareto=[{metric:test/rmse,goal:min},{metric:test/top_10_accuracy,goal:max},{metric:test/ndcg_at_10,goal:max}]'``."""
    method: str | None = None
    """The method a job belongs to in a comparison of methods (``hydra/sweeper=methods`` sets it):
    the report draws one Pareto front per method, with its hypervolume."""
    reference_point: list[float] | None = None
    """The hypervolume's reference point, one value per ``pareto`` objective; None: the worst
    value of each objective over the finished jobs (docs/sweeps.md, "Comparing methods")."""


@dataclass
class TrialConfig:
    """Which trial of an Optuna search a job is; the sweeper (``hydra/sweeper=optuna``) sets it."""

    number: int | None = None
    """The trial's number in the study that the sweep folder's ``mtrec_study.json`` names; None
    outside a search. Its job reports per-epoch validation metrics there, for the pruner."""


@dataclass
class Config:
    """The root config: one section per group, plus what a run returns."""

    dataset: DatasetConfig = MISSING
    model: ModelConfig = MISSING
    optimizer: OptimizerConfig = MISSING
    loss: LossConfig = MISSING
    trainer: TrainerConfig = MISSING
    tracking: TrackingConfig = MISSING
    tasks: dict[str, TaskConfig] = MISSING
    """The model's tasks by name (``tasks=...``), in the order their losses are added."""
    objectives: list[str] = field(default_factory=lambda: ["test/rmse"])
    """Metric(s) the Hydra task returns, so sweepers can optimise them."""
    sweep: SweepConfig = field(default_factory=SweepConfig)
    """Multirun behaviour."""
    baselines: BaselinesConfig = field(default_factory=BaselinesConfig)
    """The strong baselines beside every run."""
    dry_run: bool = False
    """Compose, validate, load data and build the model, but do not train or log."""
    trial: TrialConfig = field(default_factory=TrialConfig)
    """The search trial a job is (set by the Optuna sweeper)."""


def get_key(section: Any, name: str) -> Any:
    """``section.<name>`` of a composed section or its dataclass object.

    A composed section is an OmegaConf ``DictConfig``, on which ``.items`` is the dict method,
    not the ``dataset.items`` key, so keys are read by subscript there.
    """
    return section[name] if isinstance(section, DictConfig) else getattr(section, name)


# Config group -> its schema, stored as ``<group>_schema`` (see mtrec.config.registry).
GROUP_SCHEMAS: dict[str, type] = {
    "dataset": DatasetConfig,
    "model": ModelConfig,
    "optimizer": OptimizerConfig,
    "loss": LossConfig,
    "trainer": TrainerConfig,
    "tracking": TrackingConfig,
}
