"""The TFRS multitask model: shared user and movie towers, a rating task and a retrieval task.

This is the model of TFRS's "multitask recommenders" tutorial. Inside the training graph the
towers take integer ids (``mtrec.data`` encodes them once); the ``StringLookup`` layers that map
raw string ids onto the same indices sit at the model's edges, for serving.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf
import tensorflow_recommenders as tfrs

from mtrec.losses import global_batch_size, global_in_batch_softmax_loss


class MultitaskModel(tfrs.models.Model):
    """Trained on ``rating_weight * rating_loss + retrieval_weight * retrieval_loss``.

    Features are dicts with ``user`` and ``movie`` ([batch] int32 indices, 1-based into the
    vocabularies; 0 is the out-of-vocabulary bucket) and ``rating`` ([batch] float32).
    """

    def __init__(
        self,
        user_vocab: np.ndarray,
        movie_vocab: np.ndarray,
        embedding_dim: int = 32,
        rating_hidden_units: Sequence[int] = (256, 128),
        rating_weight: float = 1.0,
        retrieval_weight: float = 1.0,
        top_k: Sequence[int] = (1, 5, 10, 50, 100),
        retrieval_reduction: str = "sum",
    ) -> None:
        """Builds the towers and tasks.

        Args:
          user_vocab: [num_users] user ids (strings).
          movie_vocab: [num_movies] movie titles (strings); every candidate movie.
          embedding_dim: size of the shared user and movie embeddings.
          rating_hidden_units: ReLU layer sizes of the rating head; a Dense(1) output follows.
          rating_weight: weight of the rating (MSE) loss; 0 skips the rating task in training.
          retrieval_weight: weight of the retrieval (in-batch softmax) loss; 0 skips it in training.
          top_k: the K of the top-K accuracy metrics, measured against every movie.
          retrieval_reduction: "sum" (TFRS's: the in-batch softmax loss summed over the batch) or
            "mean" (divided by the batch size, on the scale of the per-example MSE).
        """
        super().__init__()
        self.rating_weight = float(rating_weight)
        self.retrieval_weight = float(retrieval_weight)
        self.num_movies = len(movie_vocab)
        if retrieval_reduction not in ("sum", "mean"):
            raise ValueError(f"retrieval_reduction must be 'sum' or 'mean' (got {retrieval_reduction!r})")
        self.retrieval_reduction = retrieval_reduction

        self.user_lookup = tf.keras.layers.StringLookup(vocabulary=list(user_vocab), mask_token=None)
        self.movie_lookup = tf.keras.layers.StringLookup(vocabulary=list(movie_vocab), mask_token=None)
        self.user_embedding = tf.keras.layers.Embedding(len(user_vocab) + 1, embedding_dim)
        self.movie_embedding = tf.keras.layers.Embedding(len(movie_vocab) + 1, embedding_dim)
        self.rating_model = tf.keras.Sequential(
            [tf.keras.layers.Dense(units, activation="relu") for units in rating_hidden_units]
            + [tf.keras.layers.Dense(1)]
        )
        # Built now: a model trained with rating_weight=0 never calls the head in training, and
        # Keras needs every trainable weight to exist before the first gradient step.
        self.rating_model.build((None, 2 * embedding_dim))

        # Per-example losses, averaged in compute_loss over the global batch (see there).
        self.rating_task = tfrs.tasks.Ranking(
            loss=tf.keras.losses.MeanSquaredError(reduction=tf.keras.losses.Reduction.NONE),
            metrics=[tf.keras.metrics.RootMeanSquaredError(name="rmse")],
        )
        # Top-K is scored against every movie by one brute-force pass over their embeddings,
        # indexed once after training (see index_candidates), not streamed per batch.
        self.candidate_index = tfrs.layers.factorized_top_k.BruteForce(k=max(top_k))
        self.retrieval_task = tfrs.tasks.Retrieval(
            metrics=tfrs.metrics.FactorizedTopK(candidates=self.candidate_index, ks=list(top_k))
        )
        self.loss_tracker = tf.keras.metrics.Mean(name="loss")
        self.rating_loss_tracker = tf.keras.metrics.Mean(name="rating_loss")
        self.retrieval_loss_tracker = tf.keras.metrics.Mean(name="retrieval_loss")

    def train_step(self, features: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        with tf.GradientTape() as tape:
            loss = self.compute_loss(features, training=True)
            if self.losses:
                loss += tf.nn.scale_regularization_loss(tf.add_n(self.losses))
        variables = self.trainable_variables
        gradients = tape.gradient(loss, variables)
        # A skipped task's weights get no gradient at all (None), not a zero one.
        self.optimizer.apply_gradients((g, v) for g, v in zip(gradients, variables) if g is not None)
        return self._logs(training=True)

    def test_step(self, features: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        self.compute_loss(features, training=False)
        return self._logs(training=False)

    def _logs(self, training: bool) -> dict[str, tf.Tensor]:
        """Epoch means of the losses; in evaluation also RMSE and top-K accuracy."""
        skipped = set()
        if training:
            skipped.add("rmse")
            if self.rating_weight == 0:
                skipped.add("rating_loss")
            if self.retrieval_weight == 0:
                skipped.add("retrieval_loss")
        return {
            m.name: m.result()
            for m in self.metrics
            if m.name not in skipped and not (training and m.name.startswith("factorized_top_k/"))
        }

    def index_candidates(self) -> None:
        """Indexes every movie's current embedding for top-K evaluation; call after training."""
        ids = tf.range(1, self.num_movies + 1)
        self.candidate_index.index(self.movie_embedding(ids), identifiers=ids)

    def predict_rating(self, user_embeddings: tf.Tensor, movie_embeddings: tf.Tensor) -> tf.Tensor:
        """[batch, dim] x [batch, dim] -> [batch, 1] predicted ratings."""
        return self.rating_model(tf.concat([user_embeddings, movie_embeddings], axis=1))

    def call(self, features: dict[str, tf.Tensor]) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        user_embeddings = self.user_embedding(features["user"])
        movie_embeddings = self.movie_embedding(features["movie"])
        return user_embeddings, movie_embeddings, self.predict_rating(user_embeddings, movie_embeddings)

    def compute_loss(self, features: dict[str, tf.Tensor], training: bool = False) -> tf.Tensor:
        """This replica's share of the weighted loss of the global batch.

        Under a ``tf.distribute`` strategy every replica computes its share and the optimizer sums
        the replicas' gradients: the rating loss is this replica's squared errors over the *global*
        batch size (summed over the replicas: exact for uneven last batches), the retrieval loss is
        summed over this replica's queries scored against the global batch's candidates. With one
        replica both are the usual batch losses. The loss trackers get share x replicas, so they
        report global-batch values however many replicas.
        """
        user_embeddings = self.user_embedding(features["user"])
        movie_embeddings = self.movie_embedding(features["movie"])
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        batch_size = global_batch_size(tf.shape(user_embeddings)[0])
        # A task with weight 0 adds nothing to the gradients; skip it in training, but still
        # evaluate it, so every run reports every metric.
        total = tf.constant(0.0)
        if self.rating_weight > 0 or not training:
            squared_errors = self.rating_task(  # [batch]: labels shaped like the [batch, 1] predictions
                labels=features["rating"][:, None],
                predictions=self.predict_rating(user_embeddings, movie_embeddings),
                compute_metrics=not training,
            )
            rating_loss = tf.math.divide_no_nan(tf.reduce_sum(squared_errors), batch_size)
            self.rating_loss_tracker.update_state(rating_loss * replicas)
            total += self.rating_weight * rating_loss
        retrieval_loss = None
        if self.retrieval_weight > 0 or not training:
            # Same value and gradients as TFRS's task loss (tested), without [batch, batch] tensors.
            retrieval_loss = global_in_batch_softmax_loss(user_embeddings, movie_embeddings)
        if not training:
            for metric in self.retrieval_task.factorized_metrics:
                metric.update_state(user_embeddings, movie_embeddings)
        if retrieval_loss is not None:
            if self.retrieval_reduction == "mean":
                retrieval_loss = tf.math.divide_no_nan(retrieval_loss, batch_size)
            self.retrieval_loss_tracker.update_state(retrieval_loss * replicas)
            total += self.retrieval_weight * retrieval_loss
        self.loss_tracker.update_state(total * replicas)
        return total
