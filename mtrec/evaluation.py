"""Evaluation of the current weights on a held-out split: the tasks' metrics (loss, RMSE, top-K
accuracy) and per-user Recall@K / NDCG@K, from one set of candidate embeddings."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import tensorflow as tf

from mtrec.config import Config
from mtrec.interactions import Interactions
from mtrec.model import MultitaskModel
from mtrec.ranking import SeenMovies, rank_users, recall_ndcg


def rename(logs: Mapping[str, float], prefix: str) -> dict[str, float]:
    """Keras/TFRS log names -> mtrec's `split/metric` names; `val/*` entries pass through."""
    out = {}
    for name, value in logs.items():
        if name.startswith("val/"):
            out[name] = float(value)
            continue
        if name.startswith("factorized_top_k/top_"):
            k = name.removeprefix("factorized_top_k/top_").split("_")[0]
            name = f"top_{k}_accuracy"
        elif name not in ("loss", "rating_loss", "retrieval_loss", "rmse"):
            continue
        out[f"{prefix}/{name}"] = float(value)
    return out


# Tracing a model's test step costs more than running a few batches of it op by op (ml-100k's test
# split, 5 batches of 4096: 0.57 s of tracing, against ~0.06 s more a batch eagerly; same metrics).
EAGER_MAX_BATCHES = 8


def evaluate(
    model: MultitaskModel,
    ds: tf.data.Dataset,
    heldout: Interactions,
    seen: SeenMovies | None,
    cfg: Config,
    prefix: str,
    once: bool = False,
) -> dict[str, float]:
    """``prefix/*`` metrics of the current weights on a held-out split.

    One pass over the candidates: every movie's embedding is computed once and indexed; the
    loss, RMSE and top-K accuracy come from the model's tasks, Recall/NDCG from the same embeddings.
    With ``once`` (this model is evaluated this one time), a split of at most ``EAGER_MAX_BATCHES``
    batches runs eagerly unless the model's test step is already traced.
    """
    t = cfg.trainer
    with model.distribute_strategy.scope():  # The index's variables live where the model's do.
        candidates = model.index_candidates()
    eager = model.run_eagerly
    model.run_eagerly = eager or (
        once
        and model.test_function is None
        and math.ceil(len(heldout) / t.eval_batch_size) <= EAGER_MAX_BATCHES
    )
    try:
        results = rename(model.evaluate(ds, return_dict=True, verbose=0), prefix)
    finally:
        model.run_eagerly = eager
    ranked = ranking_metrics(model, candidates, heldout, seen if t.exclude_seen else None, t.ranking_k)
    results.update({f"{prefix}/{name}": value for name, value in ranked.items()})
    return results


def ranking_metrics(
    model: MultitaskModel,
    candidates: tf.Tensor,
    heldout: Interactions,
    seen: SeenMovies | None,
    ks: Sequence[int],
    users_per_batch: int = 1024,
) -> dict[str, float]:
    """Per-user Recall@K and NDCG@K of the held-out movies (see ``mtrec.ranking``); ``seen``
    movies, when given, are never ranked."""
    relevant = SeenMovies(heldout.user, heldout.movie)
    users = relevant.users
    candidate_ids = np.arange(1, candidates.shape[0] + 1)
    ranked = []
    for start in range(0, len(users), users_per_batch):
        batch = users[start : start + users_per_batch]
        queries = model.score_queries(model.user_tower(batch))
        scores = tf.matmul(queries, candidates, transpose_b=True).numpy()
        exclude = None if seen is None else [seen.of(u) for u in batch]
        ranked.append(rank_users(scores, candidate_ids, max(ks), exclude))
    return recall_ndcg(np.concatenate(ranked), [set(relevant.of(u).tolist()) for u in users], ks)
