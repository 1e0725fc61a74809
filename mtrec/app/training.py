"""A job's TensorFlow side: the configured model built from its components, trained and evaluated.

Imported only once the config and data are known good (``mtrec.app.job``), since it loads
TensorFlow. Config keys and the components' keyword arguments share their names (the schema in
``mtrec.config.schema`` is the one place a lever is declared): :func:`arguments` hands each
component the keys it takes, and the few values that are derived from the data are computed here.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from mtrec.app.baselines import baselines, task_labels
from mtrec.app.process import ProcessState
from mtrec.config import Config
from mtrec.config.plain import section, section_list
from mtrec.data.interactions import Interactions, Split, movies_by_user
from mtrec.evaluation.baselines import fit_biases
from mtrec.model.mmoe import MMoE
from mtrec.model.multitask import MultitaskModel
from mtrec.model.tasks.base import Task
from mtrec.model.tasks.binary import BinaryTask
from mtrec.model.tasks.regression import RegressionTask
from mtrec.model.tasks.retrieval import RetrievalTask
from mtrec.model.towers import Towers
from mtrec.model.weighting import GradNormWeighting, LossWeighting, UncertaintyWeighting
from mtrec.serving.export import GraphCache, export_model
from mtrec.training.callbacks import LogFn
from mtrec.training.datasets import make_dataset
from mtrec.training.loop import train_and_evaluate

OPTIMIZERS = {
    "adagrad": tf.keras.optimizers.Adagrad,
    "adam": tf.keras.optimizers.Adam,
    "sgd": tf.keras.optimizers.SGD,
}
# Model keys that are not passed on by name: the builder turns them into data-derived arrays.
DERIVED_MODEL_KEYS = (
    "user_history",
    "user_features",
    "movie_features",
    "baseline_biases",
    "logq_correction",
    "logq_weight",
    "popularity_prior",
    "mmoe_experts",
    "mmoe_expert_units",
)


def arguments(component: Callable, *sections: Mapping[str, Any]) -> dict[str, Any]:
    """The keys of ``sections`` that ``component`` takes as keyword arguments of the same name,
    except those the builder derives from the data."""
    params = inspect.signature(component).parameters
    return {
        key: value
        for s in sections
        for key, value in s.items()
        if key in params and key not in DERIVED_MODEL_KEYS
    }


def make_strategy(name: str, state: ProcessState) -> tf.distribute.Strategy:
    """The ``trainer.strategy`` of this process, created once (TF allows one multi-worker set-up).

    ``mirrored`` replicates over every local GPU, else over every logical CPU device (one unless
    they were split with ``tf.config.set_logical_device_configuration``). ``multi_worker`` reads
    the cluster from ``TF_CONFIG``; without it, this process is a cluster of one.
    """

    def make() -> tf.distribute.Strategy:
        if name == "mirrored":
            devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
            return tf.distribute.MirroredStrategy([d.name for d in devices])
        if name == "multi_worker":
            return tf.distribute.MultiWorkerMirroredStrategy()
        return tf.distribute.get_strategy()

    return state.strategy(name, make)


def build_model(cfg: Config, split: Split, state: ProcessState) -> MultitaskModel:
    """The configured model, compiled with the configured optimizer, in ``trainer.strategy``'s scope."""
    tf.keras.utils.set_random_seed(cfg.trainer.seed)
    with make_strategy(cfg.trainer.strategy, state).scope():
        model = compose_model(cfg, split.train)
        model.compile(optimizer=OPTIMIZERS[cfg.optimizer.name](learning_rate=cfg.optimizer.lr))
        # Creates the weights now, not inside the first (replicated) training step, so that one
        # seed gives the same initial weights under every strategy.
        model(make_dataset(split.train, 2).take(1).get_single_element())
        # The optimizer's slots too: created inside the first training step, they would make
        # tf.function trace the whole step twice (once to create them, once to run).
        model.optimizer.build(model.trainable_variables)
    return model


def compose_model(cfg: Config, train: Interactions) -> MultitaskModel:
    """Towers and tasks from the config and the training rows (uncompiled).

    The order of construction is fixed: unseeded initializers draw their seeds in the order
    weights are created (the tasks' heads, in the config's order, then the towers').
    """
    m, loss, trainer = section(cfg.model), section(cfg.loss), section(cfg.trainer)
    towers = Towers(
        num_users=train.num_users,
        num_movies=train.num_movies,
        **arguments(Towers, m),
        user_history=movies_by_user(train) if m["user_history"] else None,
        user_features=train.user_features if m["user_features"] else None,
        movie_features=train.movie_features if m["movie_features"] else None,
    )
    mixed = [labels.name for labels in task_labels(cfg) if labels.kind != "retrieval"]
    mmoe_width = m["mmoe_expert_units"][-1] if m["mmoe_experts"] else None
    tasks: list[Task] = []
    for labels in task_labels(cfg):
        t = cfg.tasks[labels.name]
        common: dict[str, Any] = {
            "name": labels.name,
            "weight": t.weight,
            "metric_prefix": labels.metric_prefix,
        }
        if labels.kind != "retrieval":
            common["mixture_width"] = mmoe_width
        if t.kind == "regression":
            rated = labels.labelled_rows(train)
            targets = replace(rated, rating=labels.values(rated))
            tasks.append(
                RegressionTask(
                    num_users=train.num_users,
                    num_movies=train.num_movies,
                    **{**arguments(RegressionTask, m), **_head(t.hidden_units, "rating_hidden_units")},
                    **common,
                    label=str(t.label),
                    global_mean=float(targets.rating.mean()),
                    fixed_biases=fit_biases(targets) if m["biases"] and m["baseline_biases"] else None,
                )
            )
        elif t.kind == "binary":
            tasks.append(
                BinaryTask(
                    **{
                        **arguments(BinaryTask, m),
                        "hidden_units": t.hidden_units or m["rating_hidden_units"],
                    },
                    **common,
                    label=str(t.label),
                    threshold=t.threshold,
                )
            )
        else:
            # logQ and the popularity prior: the training frequency of each movie among the rows
            # that are this task's positives.
            positives = labels.positive_rows(train)
            counts = np.bincount(positives.movie, minlength=train.num_movies + 1).astype(np.float64)
            log_frequency = np.log(np.maximum(counts, 1.0) / max(len(positives), 1))
            tasks.append(
                RetrievalTask(
                    num_movies=train.num_movies,
                    **arguments(RetrievalTask, m, loss, trainer),
                    **common,
                    label=t.label,
                    threshold=t.threshold,
                    movie_log_q=m["logq_weight"] * log_frequency if m["logq_correction"] else None,
                    movie_score_bias=m["popularity_prior"] * log_frequency if m["popularity_prior"] else None,
                )
            )
    mmoe = None
    if m["mmoe_experts"]:
        # After the heads, before the towers: with MMoE off, every weight draws the seed it drew before.
        mmoe = MMoE(
            mixed,
            embedding_dim=m["embedding_dim"],
            num_experts=m["mmoe_experts"],
            expert_units=list(m["mmoe_expert_units"]),
            interaction_features=m["interaction_features"],
        )
    return MultitaskModel(towers, tasks, weighting=loss_weighting(cfg, tasks), mmoe=mmoe)


def loss_weighting(cfg: Config, tasks: list[Task]) -> LossWeighting | None:
    """``loss.weighting``'s learned weights over the tasks of weight > 0, starting from those
    weights (GradNorm's optimizer: a second one of ``optimizer.name`` and ``optimizer.lr``, as the
    paper trains the weights with the network's); None for ``fixed``."""
    trained = [task for task in tasks if task.weight > 0]
    names, weights = [task.name for task in trained], [task.weight for task in trained]
    if cfg.loss.weighting == "uncertainty":
        return UncertaintyWeighting(names, weights)
    if cfg.loss.weighting == "gradnorm":
        optimizer = OPTIMIZERS[cfg.optimizer.name](learning_rate=cfg.optimizer.lr)
        return GradNormWeighting(names, weights, optimizer, alpha=cfg.loss.gradnorm_alpha)
    return None


def _head(hidden_units: list[int] | None, key: str) -> dict[str, Any]:
    """A task's own head sizes, when it sets them, as the model key they replace."""
    return {} if hidden_units is None else {key: list(hidden_units)}


def train(
    cfg: Config,
    split: Split,
    output_dir: Path,
    state: ProcessState,
    log: LogFn | None = None,
    export_dir: Path | None = None,
    on_epoch_end: Callable[[int, Mapping[str, float]], None] | None = None,
) -> dict[str, float]:
    """Trains and evaluates the configured model (``mtrec.training.loop.train_and_evaluate``),
    exporting it to ``export_dir`` when given; ``on_epoch_end`` sees each epoch's metrics."""
    t = cfg.trainer
    es = t.early_stopping
    stopper = None
    if es.metric is not None:
        stopper = tf.keras.callbacks.EarlyStopping(
            monitor=es.metric,
            mode=es.goal,
            patience=es.patience,
            min_delta=es.min_delta,
            start_from_epoch=es.start_from_epoch,
            restore_best_weights=True,
        )
    export = None
    if export_dir is not None:
        if state.export_graphs is None:
            state.export_graphs = GraphCache()
        # Jobs of one process that differ only in what the serving graph does not depend on (loss
        # weights, optimizer, trainer) write one traced graph again with their own weights. The
        # model config and the tasks' names, kinds and heads are all that shape it, besides the
        # training rows (the same object when the split comes from the process's cache) and the
        # weights' shapes; one device only.
        heads = {n: [task.kind, section_list(task.hidden_units)] for n, task in cfg.tasks.items()}
        graph_key = (
            json.dumps([section(cfg.model), heads], sort_keys=True) if t.strategy == "default" else None
        )

        def export(model: MultitaskModel, train_rows: Interactions) -> None:
            export_model(model, train_rows, export_dir, cache=state.export_graphs, graph_key=graph_key)

    return train_and_evaluate(
        lambda s: build_model(cfg, s, state),
        split,
        output_dir,
        epochs=t.epochs,
        batch_size=t.batch_size,
        eval_batch_size=t.eval_batch_size,
        seed=t.seed,
        ranking_k=list(t.ranking_k),
        exclude_seen=t.exclude_seen,
        early_stopping=stopper,
        refit=t.refit,
        verbose=t.verbose,
        baselines=baselines(cfg, split, state),
        log=log,
        export=export,
        retrieval=next(labels for labels in task_labels(cfg) if labels.kind == "retrieval"),
        on_epoch_end=on_epoch_end,
    )


def describe(model: MultitaskModel, split: Split) -> str:
    """One line on the built (untrained) model, for dry runs."""
    return (
        f"model ok: {split.train.num_users} users, {split.train.num_movies} movies, "
        f"{len(split.train)} train / {len(split.test)} test rows, "
        f"{model.count_params():,} parameters"
    )
