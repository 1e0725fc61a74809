"""The checks Hydra cannot express: ranges and cross-field rules, before TensorFlow does any work.

:func:`validate` needs only the config; :func:`validate_against_data` also the loaded dataset's
sizes. Each names the first offending key, its full path and what it allows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from mtrec.config.schema import (
    CANDIDATES,
    DATASET_KINDS,
    DUPLICATES,
    GOALS,
    OPTIMIZERS,
    REDUCTIONS,
    SPLITS,
    STRATEGIES,
    TABLE_FORMATS,
    TASK_KINDS,
    WEIGHTINGS,
    Config,
    DatasetConfig,
    ParetoObjective,
    TaskConfig,
    get_key,
)

BARE_NAMED_TASKS = ("rating", "retrieval")
"""Tasks whose metrics keep the tutorial's names (``test/rmse``, ``test/top_100_accuracy``);
every other task's are named ``<split>/<task>/<metric>`` (``test/like/auc``). Losses are
``<split>/<task>_loss`` for every task."""


class ConfigError(ValueError):
    """A config value that composes but cannot be run; the message names the full key."""


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
    _require(d.split in SPLITS, "dataset.split", f"one of {SPLITS}", d.split)
    _require(d.leave_out >= 1, "dataset.leave_out", ">= 1", d.leave_out)
    if d.kind == "table":
        _validate_table(d, cfg.tasks)
    else:
        for side in ("items", "users"):
            path = get_key(d, side).path
            _require(path is None, f"dataset.{side}.path", "unset unless dataset.kind=table", path)
    if d.kind == "funnel":
        _require(0 < d.click_rate < 1, "dataset.click_rate", "in (0, 1)", d.click_rate)
        _require(
            0 < d.purchase_rate < d.click_rate,
            "dataset.purchase_rate",
            f"in (0, dataset.click_rate={d.click_rate})",
            d.purchase_rate,
        )
    if d.kind in ("synthetic", "funnel"):
        _require(d.path is None, "dataset.path", f"unset for a {d.kind} dataset", d.path)
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
    _require(m.mmoe_experts >= 0, "model.mmoe_experts", ">= 0", m.mmoe_experts)
    if m.mmoe_experts:
        expert_units = list(m.mmoe_expert_units)
        _require(
            len(expert_units) > 0,
            "model.mmoe_expert_units",
            "a non-empty list when model.mmoe_experts > 0",
            expert_units,
        )
        for i, width in enumerate(expert_units):
            _require(width > 0, f"model.mmoe_expert_units[{i}]", "> 0", width)
        _require(
            any(t.kind in ("regression", "binary") for t in cfg.tasks.values()),
            "model.mmoe_experts",
            "0 when no task is a regression or binary task (MMoE mixes only their heads' input)",
            m.mmoe_experts,
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
        w.retrieval_candidates in CANDIDATES,
        "loss.retrieval_candidates",
        f"one of {list(CANDIDATES)}",
        w.retrieval_candidates,
    )
    _require(
        not (m.logq_correction and w.retrieval_candidates == "all"),
        "model.logq_correction",
        "false with loss.retrieval_candidates=all (no sampled negatives to correct)",
        m.logq_correction,
    )
    _require(w.weighting in WEIGHTINGS, "loss.weighting", f"one of {WEIGHTINGS}", w.weighting)
    _require(
        math.isfinite(w.gradnorm_alpha) and w.gradnorm_alpha >= 0,
        "loss.gradnorm_alpha",
        ">= 0",
        w.gradnorm_alpha,
    )
    _require(
        w.weighting != "gradnorm" or cfg.trainer.strategy == "default",
        "trainer.strategy",
        "default with loss.weighting=gradnorm (its gradient norms are computed on one device)",
        cfg.trainer.strategy,
    )
    _validate_tasks(cfg.tasks)

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
        val_names = metric_names("val", cfg.tasks, t.top_k, t.ranking_k)
        _require(es.metric in val_names, "trainer.early_stopping.metric", f"one of {val_names}", es.metric)
        _require(es.goal in GOALS, "trainer.early_stopping.goal", f"one of {GOALS}", es.goal)
        _require(es.patience >= 0, "trainer.early_stopping.patience", ">= 0", es.patience)
        _require(es.min_delta >= 0, "trainer.early_stopping.min_delta", ">= 0", es.min_delta)
        _require(
            0 <= es.start_from_epoch < t.epochs,
            "trainer.early_stopping.start_from_epoch",
            f">= 0 and below trainer.epochs ({t.epochs})",
            es.start_from_epoch,
        )
    _require(
        not t.refit or es.metric is not None,
        "trainer.refit",
        "false unless trainer.early_stopping.metric is set (it refits for the selected epochs)",
        t.refit,
    )

    known = metric_names("test", cfg.tasks, t.top_k, t.ranking_k)
    if t.val_fraction > 0:  # Searches should select on these, never on test.
        known += metric_names("val", cfg.tasks, t.top_k, t.ranking_k)
    for i, name in enumerate(cfg.objectives):
        _require(name in known, f"objectives[{i}]", f"one of {known}", name)
    validate_pareto(cfg.sweep.pareto)
    for i, objective in enumerate(cfg.sweep.pareto):
        _require(objective.metric in known, f"sweep.pareto[{i}].metric", f"one of {known}", objective.metric)
    reference = cfg.sweep.reference_point
    if reference is not None:
        _require(
            len(reference) == len(cfg.sweep.pareto),
            "sweep.reference_point",
            f"one value per sweep.pareto objective ({len(cfg.sweep.pareto)})",
            list(reference),
        )
    b = cfg.baselines
    _require(b.max_items > 0, "baselines.max_items", "> 0", b.max_items)
    _require(len(b.ease_l2) > 0, "baselines.ease_l2", "a non-empty list", list(b.ease_l2))
    for i, l2 in enumerate(b.ease_l2):
        _require(l2 > 0, f"baselines.ease_l2[{i}]", "> 0", l2)
    _require(0 < b.selection_fraction < 1, "baselines.selection_fraction", "in (0, 1)", b.selection_fraction)
    _require(b.knn_neighbours > 0, "baselines.knn_neighbours", "> 0", b.knn_neighbours)
    _require(b.knn_shrinkage >= 0, "baselines.knn_shrinkage", ">= 0", b.knn_shrinkage)


def validate_pareto(objectives: Sequence[ParetoObjective], key: str = "sweep.pareto") -> None:
    """Checks a Pareto report's objectives: at least two, each goal min or max, no metric twice.

    Args:
      objectives: the objectives, each with ``.metric`` and ``.goal``.
      key: how messages name the list (``sweep.pareto``; ``mtrec-compare`` passes ``--pareto``).

    Raises:
      ConfigError: naming the first offending objective and what it allows.
    """
    _require(len(objectives) >= 2, key, "a list of at least two objectives", len(objectives))
    first: dict[str, int] = {}
    for i, objective in enumerate(objectives):
        _require(objective.goal in GOALS, f"{key}[{i}].goal", f"one of {GOALS}", objective.goal)
        _require(
            objective.metric not in first,
            f"{key}[{i}].metric",
            f"different from {key}[{first.get(objective.metric)}].metric",
            objective.metric,
        )
        first[objective.metric] = i


def _validate_tasks(tasks: Mapping[str, TaskConfig]) -> None:
    _require(len(tasks) > 0, "tasks", "at least one task", dict(tasks))
    retrieval = [name for name, task in tasks.items() if task.kind == "retrieval"]
    for name, task in tasks.items():
        key = f"tasks.{name}"
        _require("/" not in name and name.isidentifier(), key, "a name of letters, digits and _", name)
        _require(task.kind in TASK_KINDS, f"{key}.kind", f"one of {TASK_KINDS}", task.kind)
        _require(math.isfinite(task.weight) and task.weight >= 0, f"{key}.weight", ">= 0", task.weight)
        _require(0.0 < task.label_fraction <= 1.0, f"{key}.label_fraction", "in (0, 1]", task.label_fraction)
        if task.kind == "retrieval":
            _require(
                task.hidden_units is None,
                f"{key}.hidden_units",
                "unset for a retrieval task",
                task.hidden_units,
            )
            _require(
                task.label_fraction == 1.0,
                f"{key}.label_fraction",
                "1.0 for a retrieval task",
                task.label_fraction,
            )
        else:
            _require(
                task.label is not None, f"{key}.label", f"a column name for a {task.kind} task", task.label
            )
            for i, units in enumerate(task.hidden_units or []):
                _require(units > 0, f"{key}.hidden_units[{i}]", "> 0", units)
        if task.kind == "regression":
            _require(
                task.threshold is None, f"{key}.threshold", "unset for a regression task", task.threshold
            )
    _require(
        len(retrieval) == 1,
        "tasks",
        "exactly one retrieval task (its weight may be 0)",
        retrieval or "none",
    )
    if all(task.weight == 0 for task in tasks.values()):
        raise ConfigError(
            f"tasks.*.weight are all 0 ({', '.join(f'tasks.{n}.weight' for n in tasks)}): nothing "
            "would be trained; set at least one > 0"
        )


def metric_prefix(task: str) -> str:
    """What precedes a task's metric names (see :data:`BARE_NAMED_TASKS`)."""
    return "" if task in BARE_NAMED_TASKS else f"{task}/"


def task_metric_names(task: str, kind: str, top_k: list[int], ranking_k: list[int]) -> list[str]:
    """A task's evaluation metrics (its loss aside), unprefixed by split."""
    if kind == "regression":
        names = ["rmse"]
    elif kind == "binary":
        names = ["auc", "log_loss"]
    else:
        names = [f"top_{k}_accuracy" for k in top_k]
        names += [f"{m}_at_{k}" for k in ranking_k for m in ("recall", "ndcg")]
    return [metric_prefix(task) + name for name in names]


def metric_names(
    prefix: str, tasks: Mapping[str, TaskConfig], top_k: list[int], ranking_k: list[int]
) -> list[str]:
    """Every ``test/*`` (or ``val/*``) metric a run of these tasks reports, in display order:
    the losses, then each task's metrics (regression and binary tasks first, then retrieval)."""
    names = ["loss"] + [f"{name}_loss" for name in tasks]
    ordered = sorted(tasks.items(), key=lambda item: item[1].kind == "retrieval")
    for name, task in ordered:
        names += task_metric_names(name, task.kind, top_k, ranking_k)
    return [f"{prefix}/{name}" for name in names]


def _validate_table(d: DatasetConfig, tasks: Mapping[str, TaskConfig]) -> None:
    """The table source's keys: a path, known options, sane ranges, and what the columns allow."""
    _require(
        bool(d.path), "dataset.path", "set for dataset=table (a CSV, TSV or Parquet file or folder)", d.path
    )
    _require(d.duplicates in DUPLICATES, "dataset.duplicates", f"one of {DUPLICATES}", d.duplicates)
    _require(
        d.format is None or d.format in TABLE_FORMATS,
        "dataset.format",
        f"null or one of {TABLE_FORMATS}",
        d.format,
    )
    c = d.columns
    for key in ("user", "item"):
        _require(bool(getattr(c, key)), f"dataset.columns.{key}", "a column name", getattr(c, key))
    ranges = {"rating_range": c.rating_range, **{f"label_ranges.{k}": v for k, v in c.label_ranges.items()}}
    for key, bounds in ranges.items():
        if bounds is not None:
            ok = len(bounds) == 2 and bounds[0] <= bounds[1]
            _require(ok, f"dataset.columns.{key}", "[low, high] with low <= high", list(bounds))
    for name in c.label_ranges:
        _require(
            name in c.labels,
            f"dataset.columns.label_ranges.{name}",
            "a column in dataset.columns.labels",
            name,
        )
    for name, task in tasks.items():
        _require(
            c.rating is not None or task.label != "rating" or task.weight == 0,
            f"tasks.{name}.weight",
            "0 when dataset.columns.rating is null (the table has no ratings; use loss=retrieval_only)",
            task.weight,
        )
    _require(
        c.timestamp is not None or d.split == "random",
        "dataset.split",
        "random when dataset.columns.timestamp is null (the other rules need times)",
        d.split,
    )
    for side in ("items", "users"):
        catalog = get_key(d, side)
        if catalog.path is not None:
            _require(bool(catalog.id), f"dataset.{side}.id", "the catalog's id column", catalog.id)


def validate_against_data(
    cfg: Config,
    num_movies: int,
    side_features: tuple[str, ...] = ("movie", "user"),
    columns: Mapping[str, np.ndarray] | None = None,
) -> None:
    """Checks the rules that need the loaded dataset (still before any TensorFlow work).

    ``side_features`` names the sides ("movie", "user") the dataset has side features for;
    ``columns`` holds the training rows' per-row columns tasks may take labels from (``rating``
    and the dataset's others).
    """
    if columns is not None:
        for name, task in cfg.tasks.items():
            if task.label is None:
                continue
            _require(
                task.label in columns,
                f"tasks.{name}.label",
                f"a column of dataset {cfg.dataset.name} ({', '.join(columns)})",
                task.label,
            )
            if task.kind == "binary" and task.threshold is None:
                values = np.unique(columns[task.label])
                _require(
                    bool(np.isin(values, (0.0, 1.0)).all()),
                    f"tasks.{name}.label",
                    f"a 0/1 column, or set tasks.{name}.threshold (column {task.label} holds "
                    f"{', '.join(f'{v:g}' for v in values[:5])}{' ...' if len(values) > 5 else ''})",
                    task.label,
                )
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
