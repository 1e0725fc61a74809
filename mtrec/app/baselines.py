"""Each run's baselines: computed once per process and split, from the moment the split is known.

The baselines (``baseline/*``: popularity and the bias model, with ``baselines.strong`` EASE and
item-kNN too) depend on the split and the tasks, never on the model. With EASE and item-kNN they
cost about 3.7 s of numpy on ml-100k (measured 2026-12-03), most of it linear algebra, which runs
without the GIL. :func:`start_baselines` begins them in a thread as soon as a job has its split,
before TensorFlow's import, which keeps one core busy in Python meanwhile;
:func:`baselines` waits for them where the run logs them. Without :func:`start_baselines` first,
:func:`baselines` computes them in the calling thread.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable
from typing import cast

from threadpoolctl import threadpool_limits

from mtrec.app.dataset import dataset_key
from mtrec.app.process import ProcessState
from mtrec.config import Config
from mtrec.config.checks import metric_prefix
from mtrec.config.plain import section
from mtrec.data.interactions import Interactions, Split
from mtrec.data.labels import TaskLabels
from mtrec.data.splits import carve_validation, refit_split
from mtrec.evaluation.baselines import StrongBaselines, compute_baselines


def task_labels(cfg: Config) -> list[TaskLabels]:
    """Each configured task's label rule, in the config's order."""
    return [
        TaskLabels(name, t.kind, t.label, t.threshold, metric_prefix(name)) for name, t in cfg.tasks.items()
    ]


def start_baselines(cfg: Config, split: Split, state: ProcessState, blas_threads: int | None = None) -> None:
    """Starts computing the baselines of ``split`` in a background thread, unless this process
    already has them or is computing them.

    Args:
      blas_threads: numpy's BLAS threads while they compute (None: BLAS's own default, one a
        core). numpy's BLAS pool is the process's (``threadpoolctl``): set it only when nothing
        else in the process needs numpy's BLAS meanwhile, as in :mod:`mtrec.app.prefetch`.
    """
    key, compute = _baselines(cfg, split)
    if blas_threads is not None:
        unlimited = compute

        def compute() -> dict[str, float]:
            with threadpool_limits(blas_threads, user_api="blas"):
                return unlimited()

    state.start_baselines(key, compute)


def baselines(cfg: Config, split: Split, state: ProcessState) -> dict[str, float]:
    """The baselines of the split the final model trains on, computed once per process and split
    (waiting for :func:`start_baselines`' thread when it has started them)."""
    return state.baselines_of(*_baselines(cfg, split))


def _baselines(cfg: Config, split: Split) -> tuple[Hashable, Callable[[], dict[str, float]]]:
    """The cache key of ``split``'s baselines under ``cfg``, and how to compute them."""
    d, t, b = cfg.dataset, cfg.trainer, cfg.baselines
    final = refit_split(split) if t.refit else split
    labels = task_labels(cfg)
    fractions = tuple(task.label_fraction for task in cfg.tasks.values())
    masked = any(f < 1 for f in fractions)
    strong_options = json.dumps(section(b), sort_keys=True)
    key = (
        dataset_key(d),
        t.val_fraction,
        t.refit,
        t.seed if masked else None,
        tuple(t.top_k),
        repr(labels),
        fractions,
        (tuple(t.ranking_k), t.exclude_seen, strong_options) if b.strong else None,
    )

    def compute() -> dict[str, float]:
        strong = None
        if b.strong:
            # EASE's λ is chosen on the run's validation split; without one, on rows carved out of
            # the final training rows by the dataset's rule (EASE is then refitted on all of them).
            if split.val is not None:
                selection = Split(split.train, split.val)
            else:
                carved = carve_validation(final, b.selection_fraction, d.split_seed, d.split, d.leave_out)
                selection = Split(carved.train, cast(Interactions, carved.val))
            strong = StrongBaselines(
                selection=selection,
                ranking_k=tuple(t.ranking_k),
                exclude_seen=t.exclude_seen,
                ease_l2=tuple(b.ease_l2),
                max_items=b.max_items,
                knn_neighbours=b.knn_neighbours,
                knn_shrinkage=b.knn_shrinkage,
            )
        return compute_baselines(final, t.top_k, labels, strong)

    return key, compute
