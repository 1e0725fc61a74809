"""Evaluation of the current weights on a held-out split: the tasks' metrics (losses, RMSE, top-K
accuracy) and per-user Recall@K / NDCG@K, from one set of candidate embeddings."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import tensorflow as tf

from mtrec.data.interactions import Interactions
from mtrec.evaluation.ranking import SeenMovies, rank_users, recall_ndcg
from mtrec.model.multitask import MultitaskModel


def rename(logs: Mapping[str, float], prefix: str) -> dict[str, float]:
    """Keras log names (``rmse``, ``rating_loss``) -> mtrec's ``split/metric`` names; ``val/*``
    entries (added by validation) pass through."""
    return {name if name.startswith("val/") else f"{prefix}/{name}": float(v) for name, v in logs.items()}


# Tracing a model's test step costs more than running a few batches of it op by op (ml-100k's test
# split, 5 batches of 4096: 0.57 s of tracing, against ~0.06 s more a batch eagerly; same metrics).
EAGER_MAX_BATCHES = 8


def evaluate(
    model: MultitaskModel,
    ds: tf.data.Dataset,
    heldout: Interactions,
    seen: SeenMovies | None,
    prefix: str,
    *,
    batch_size: int,
    ranking_k: Sequence[int],
    once: bool = False,
    ranking_prefix: str = "",
    num_rows: int | None = None,
) -> dict[str, float]:
    """``prefix/*`` metrics of the current weights on a held-out split.

    One pass over the candidates: every movie's embedding is computed once and indexed; the
    losses, RMSE and top-K accuracy come from the model's tasks, Recall/NDCG from the same
    embeddings.

    Args:
      model: the trained model.
      ds: ``heldout`` in batches of ``batch_size`` (``mtrec.training.datasets.make_dataset``).
      heldout: the held-out rows Recall/NDCG rank (the retrieval task's positives among ``ds``'s).
      seen: movies never ranked for each user in Recall/NDCG (their earlier ones); None ranks all.
      prefix: ``val`` or ``test``.
      batch_size: ``ds``'s batch size.
      ranking_k: the K of Recall@K and NDCG@K.
      once: this model is evaluated this one time: a split of at most ``EAGER_MAX_BATCHES``
        batches then runs eagerly unless the model's test step is already traced.
      ranking_prefix: put before the Recall/NDCG names (the retrieval task's metric prefix).
      num_rows: the rows in ``ds`` (default: ``len(heldout)``).
    """
    num_rows = len(heldout) if num_rows is None else num_rows
    with model.distribute_strategy.scope():  # The index's variables live where the model's do.
        candidates = model.index_candidates()
    eager = model.run_eagerly
    model.run_eagerly = eager or (
        once and model.test_function is None and math.ceil(num_rows / batch_size) <= EAGER_MAX_BATCHES
    )
    try:
        results = rename(model.evaluate(ds, return_dict=True, verbose=0), prefix)
    finally:
        model.run_eagerly = eager
    ranked = ranking_metrics(model, candidates, heldout, seen, ranking_k)
    results.update({f"{prefix}/{ranking_prefix}{name}": value for name, value in ranked.items()})
    return results


def ranking_metrics(
    model: MultitaskModel,
    candidates: tf.Tensor,
    heldout: Interactions,
    seen: SeenMovies | None,
    ks: Sequence[int],
    users_per_batch: int = 1024,
) -> dict[str, float]:
    """Per-user Recall@K and NDCG@K of the held-out movies (see ``mtrec.evaluation.ranking``);
    ``seen`` movies, when given, are never ranked."""
    relevant = SeenMovies(heldout.user, heldout.movie)
    users = relevant.users
    candidate_ids = np.arange(1, candidates.shape[0] + 1)
    retrieval = model.retrieval
    ranked = []
    for start in range(0, len(users), users_per_batch):
        batch = users[start : start + users_per_batch]
        queries = retrieval.score_queries(model.towers.user(batch))
        scores = tf.matmul(queries, candidates, transpose_b=True).numpy()
        exclude = None if seen is None else [seen.of(u) for u in batch]
        ranked.append(rank_users(scores, candidate_ids, max(ks), exclude))
    return recall_ndcg(np.concatenate(ranked), [set(relevant.of(u).tolist()) for u in users], ks)
