"""The retrieval task: softmax over candidate movies (in-batch or the whole catalogue), top-K.

The in-batch softmax is TFRS's Retrieval task loss, computed exactly but without its
[batch, batch] matrices (:mod:`mtrec.model.losses`): within one replica from the batch's distinct
users and movies, across replicas against the global batch's candidates.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from mtrec.model.losses import global_batch_size, global_in_batch_softmax_loss, grouped_in_batch_softmax_loss
from mtrec.model.metrics import TopKAccuracy
from mtrec.model.tasks.base import Task
from mtrec.model.towers import Batch

REDUCTIONS = ("sum", "mean")
CANDIDATES = ("in_batch", "all")


class RetrievalTask(Task):
    """Scores each row's user against candidate movies; its movie is the positive.

    With a ``label``, only the rows whose label is positive are queries (a click among
    impressions); every row's movie is still an in-batch negative.
    """

    def __init__(
        self,
        num_movies: int,
        embedding_dim: int,
        weight: float = 1.0,
        top_k: Sequence[int] = (1, 5, 10, 50, 100),
        retrieval_reduction: str = "sum",
        retrieval_candidates: str = "in_batch",
        temperature: float = 1.0,
        movie_log_q: np.ndarray | None = None,
        movie_score_bias: np.ndarray | None = None,
        name: str = "retrieval",
        label: str | None = None,
        threshold: float | None = None,
        metric_prefix: str = "",
    ) -> None:
        """Args:
        num_movies: every candidate movie (indices 1..num_movies).
        embedding_dim: size of the shared embeddings.
        weight: the task's weight in the total loss.
        top_k: the K of the top-K accuracy metrics, measured against every movie.
        retrieval_reduction: "sum" (TFRS's: the softmax loss summed over the batch) or "mean"
          (divided by the batch size, on the scale of a per-example loss).
        retrieval_candidates: "in_batch" (TFRS's: each query's negatives are the batch's other
          movies) or "all" (an exact softmax over every movie of the catalogue; no logQ needed).
        temperature: the logits are divided by it (in training).
        movie_log_q: [num_movies + 1] log sampling probability of each movie as an in-batch
          candidate (its training frequency), subtracted from the logits (logQ correction).
        movie_score_bias: [num_movies + 1] added to each movie's score wherever movies are
          ranked (top-K metrics, Recall/NDCG, the export's ``recommend``), not in the loss.
        name: the task's name: its loss is reported as ``{name}_loss``.
        label: the feature saying which rows are positives (None: every row is).
        threshold: a row is positive when ``label >= threshold``; None: when ``label > 0``.
        metric_prefix: put before the metrics' names (``top_10_accuracy``).

        Raises:
          ValueError: an unknown reduction or candidate set.
        """
        super().__init__(name, weight)
        if retrieval_reduction not in REDUCTIONS:
            raise ValueError(f"retrieval_reduction must be 'sum' or 'mean' (got {retrieval_reduction!r})")
        if retrieval_candidates not in CANDIDATES:
            raise ValueError(
                f"retrieval_candidates must be 'in_batch' or 'all' (got {retrieval_candidates!r})"
            )
        self.num_movies = num_movies
        self.reduction, self.candidates = retrieval_reduction, retrieval_candidates
        self.temperature = temperature
        self.movie_log_q = None if movie_log_q is None else tf.constant(movie_log_q, tf.float32)
        self.movie_score_bias = (
            None if movie_score_bias is None else tf.constant(movie_score_bias, tf.float32)
        )
        # Top-K is scored against every movie by one brute-force pass over their candidate vectors,
        # indexed once after training (see index_candidates), not streamed per batch.
        width = embedding_dim + (self.movie_score_bias is not None)
        self.top_k = TopKAccuracy(num_movies, width, top_k, metric_prefix=metric_prefix)
        self.label, self.threshold = label, threshold

    def positives(self, features: dict[str, tf.Tensor]) -> tf.Tensor | None:
        """[batch] float32 1 for each row that is a query's positive; None when every row is."""
        if self.label is None:
            return None
        column = tf.cast(features[self.label], tf.float32)
        return tf.cast(column >= self.threshold if self.threshold is not None else column > 0, tf.float32)

    @property
    def evaluation_metrics(self) -> list[tf.keras.metrics.Metric]:
        return list(self.top_k.accuracies)

    def score_queries(self, user_embeddings: tf.Tensor) -> tf.Tensor:
        """[batch, dim] user embeddings -> the vectors whose dot product with :meth:`score_candidates`
        is the ranking score: the embeddings, plus a column of ones when movies have a score bias."""
        if self.movie_score_bias is None:
            return user_embeddings
        return tf.concat([user_embeddings, tf.ones_like(user_embeddings[:, :1])], axis=1)

    def score_candidates(self, movie_embeddings: tf.Tensor, movies: tf.Tensor) -> tf.Tensor:
        """[batch, dim] embeddings of [batch] movie indices -> candidate vectors for ranking: the
        embeddings, plus each movie's score bias as one more column (when configured)."""
        if self.movie_score_bias is None:
            return movie_embeddings
        return tf.concat([movie_embeddings, tf.gather(self.movie_score_bias, movies)[:, None]], axis=1)

    def index_candidates(self, movie_embeddings: tf.Tensor) -> tf.Tensor:
        """Indexes every movie's candidate vector for top-K evaluation, from [num_movies, dim]
        embeddings of movie indices 1..num_movies; returns the vectors (row i: index i + 1)."""
        candidates = self.score_candidates(movie_embeddings, tf.range(1, self.num_movies + 1))
        self.top_k.index(candidates)
        return candidates

    def compute_loss(self, batch: Batch, training: bool) -> tf.Tensor:
        """The softmax loss summed over this replica's queries (or its mean over the global batch);
        in evaluation also the top-K accuracy of every row's movie among all movies."""
        features = batch.features
        queries = batch.user_embeddings / self.temperature
        weights = self.positives(features)
        if self.candidates == "all":
            # [batch, num_movies] logits: affordable for a catalogue of thousands of movies.
            catalogue = batch.towers.movie(tf.range(1, self.num_movies + 1))
            logits = tf.matmul(queries, catalogue, transpose_b=True)
            losses = tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels=features["movie"] - 1, logits=logits
            )
            loss = tf.reduce_sum(losses if weights is None else weights * losses)
        elif batch.replicas == 1:
            # Same value and gradients as TFRS's task loss (tested), from the distinct users and movies.
            log_q = None if self.movie_log_q is None else tf.gather(self.movie_log_q, batch.movies)
            loss = grouped_in_batch_softmax_loss(
                batch.unique_user_embeddings / self.temperature,
                batch.user_index,
                batch.unique_movie_embeddings,
                batch.movie_index,
                log_q,
                num_ids=batch.towers.num_ids,
                row_weights=weights,
            )
        else:
            if weights is not None:
                raise ValueError(
                    f"a retrieval task with a label ({self.label}) trains on one replica only "
                    "(trainer.strategy=default)"
                )
            # Same value and gradients as TFRS's task loss (tested), without [batch, batch] tensors.
            log_q = None if self.movie_log_q is None else tf.gather(self.movie_log_q, features["movie"])
            loss = global_in_batch_softmax_loss(queries, batch.movie_embeddings, log_q)
        if not training:
            self.top_k.update_state(
                self.score_queries(batch.user_embeddings),
                self.score_candidates(batch.movie_embeddings, features["movie"]),
                weights,
            )
        if self.reduction == "mean":
            queries_in_batch = (
                batch.batch_size if weights is None else global_batch_size(tf.reduce_sum(weights))
            )
            loss = tf.math.divide_no_nan(loss, queries_in_batch)
        return self.track(loss, batch)
