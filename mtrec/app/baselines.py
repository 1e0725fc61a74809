"""Each run's baselines: computed once per process and split, from the moment the split is known.

The baselines (``baseline/*``: popularity and the bias model, with ``baselines.strong`` EASE and
item-kNN too) depend on the split and the tasks, never on the model. With EASE and item-kNN they
cost about 2 s of numpy on ml-100k (measured 2026-12-04). :func:`start_baselines` begins them in
a child process (``mtrec.app.child_call``) as soon as a job has its split, before MLflow's and
TensorFlow's imports, which keep one core busy in Python meanwhile: in a thread, the baselines'
Python between numpy calls contended with those imports for the GIL, and ended later than they
did. :func:`baselines` waits for them where the run logs them. Without :func:`start_baselines`
first, :func:`baselines` computes them in the calling thread.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Hashable

from mtrec.app.dataset import dataset_key
from mtrec.app.process import ProcessState
from mtrec.config import Config
from mtrec.config.checks import metric_prefix
from mtrec.config.plain import section
from mtrec.data.interactions import Split
from mtrec.data.labels import TaskLabels
from mtrec.evaluation.baselines import run_baselines

# Above this many training rows the baselines compute in a thread: a child process would hold a
# copy of the split (about 20 bytes a row), and on such data they cost far more than the GIL
# contention a child avoids during start-up.
CHILD_MAX_ROWS = 2_000_000


def task_labels(cfg: Config) -> list[TaskLabels]:
    """Each configured task's label rule, in the config's order."""
    return [
        TaskLabels(name, t.kind, t.label, t.threshold, metric_prefix(name)) for name, t in cfg.tasks.items()
    ]


def start_baselines(cfg: Config, split: Split, state: ProcessState, blas_threads: int | None = None) -> None:
    """Starts computing the baselines of ``split`` in a child process (a thread for splits of
    more than :data:`CHILD_MAX_ROWS` training rows, which the child would hold a copy of), unless
    this process already has them or is computing them.

    Args:
      blas_threads: numpy's BLAS threads while they compute (None: BLAS's own default, one a
        core). In a thread, numpy's BLAS pool is the process's (``threadpoolctl``).
    """
    key, compute = _baselines(cfg, split)
    state.start_baselines(key, compute, blas_threads, in_child=len(split.train) <= CHILD_MAX_ROWS)


def baselines(cfg: Config, split: Split, state: ProcessState) -> dict[str, float]:
    """The baselines of the split the final model trains on, computed once per process and split
    (waiting for :func:`start_baselines`' thread when it has started them)."""
    return state.baselines_of(*_baselines(cfg, split))


def _baselines(cfg: Config, split: Split) -> tuple[Hashable, Callable[[], dict[str, float]]]:
    """The cache key of ``split``'s baselines under ``cfg``, and how to compute them."""
    d, t, b = cfg.dataset, cfg.trainer, cfg.baselines
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

    strong = None
    if b.strong:
        strong = {
            "ranking_k": tuple(t.ranking_k),
            "exclude_seen": t.exclude_seen,
            "ease_l2": tuple(b.ease_l2),
            "max_items": b.max_items,
            "knn_neighbours": b.knn_neighbours,
            "knn_shrinkage": b.knn_shrinkage,
        }
    # EASE's λ is chosen on the run's validation split; without one, on rows carved out of the
    # final training rows by the dataset's rule (EASE is then refitted on all of them).
    selection = (b.selection_fraction, d.split_seed, d.split, d.leave_out)
    compute = functools.partial(
        run_baselines, split, tuple(t.top_k), tuple(labels), t.refit, strong, selection
    )  # plain arguments: it may run in a child process
    return key, compute
