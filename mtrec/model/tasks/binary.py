"""Binary tasks: an MLP head over the shared embeddings, sigmoid cross-entropy, AUC and log-loss.

A click, a purchase, a "like" (rating >= 4): each binary task has its own head over the same user
and movie embeddings, so a plentiful signal can shape the representation a sparse one reads.
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from mtrec.model.tasks.base import Task, head_input_width, head_inputs, labelled_rows, mlp_head
from mtrec.model.towers import Batch

LOGIT_RANGE = 12.0
NUM_THRESHOLDS = 1999


class BinaryTask(Task):
    """Predicts the probability that a row's label is positive; trained on the mean sigmoid
    cross-entropy over the rows whose label is known (feature ``{name}_mask``, absent: all)."""

    def __init__(
        self,
        embedding_dim: int,
        label: str,
        name: str,
        weight: float = 1.0,
        threshold: float | None = None,
        hidden_units: Sequence[int] = (256, 128),
        interaction_features: bool = False,
        dropout: float = 0.0,
        metric_prefix: str = "",
        mixture_width: int | None = None,
    ) -> None:
        """Args:
        embedding_dim: size of the shared embeddings the head reads.
        label: the feature the label comes from.
        name: the task's name: its loss is reported as ``{name}_loss``.
        weight: the task's weight in the total loss.
        threshold: the label is ``feature >= threshold``; None: the feature itself (0 or 1).
        hidden_units: ReLU layer sizes of the head; a Dense(1) logit follows.
        interaction_features: feed the head ``[u, m, u * m]`` instead of ``[u, m]``.
        dropout: dropout rate on the head's input.
        metric_prefix: put before the metrics' names (``auc``, ``log_loss``).
        mixture_width: the head reads the model's MMoE mixture for this task, [batch,
          mixture_width] (:mod:`mtrec.model.mmoe`), instead of the embeddings; None: no MMoE.
        """
        super().__init__(name, weight)
        self.label, self.threshold = label, threshold
        self.interaction_features = interaction_features
        self.mixture_width = mixture_width
        self.head = mlp_head(
            hidden_units, dropout, head_input_width(embedding_dim, interaction_features, mixture_width)
        )
        # Keras's default thresholds are 200 even steps of probability: a sparse task's
        # predictions (purchases: around 0.01) would all fall below the second one. Thresholds
        # spaced evenly in logits resolve every rate alike.
        thresholds = tf.sigmoid(tf.linspace(-LOGIT_RANGE, LOGIT_RANGE, NUM_THRESHOLDS)).numpy().tolist()
        self.auc = tf.keras.metrics.AUC(name=f"{metric_prefix}auc", from_logits=True, thresholds=thresholds)
        self.log_loss = tf.keras.metrics.BinaryCrossentropy(name=f"{metric_prefix}log_loss", from_logits=True)

    @property
    def evaluation_metrics(self) -> list[tf.keras.metrics.Metric]:
        return [self.auc, self.log_loss]

    def labels(self, features: dict[str, tf.Tensor]) -> tf.Tensor:
        """[batch] float32 0/1 labels."""
        column = tf.cast(features[self.label], tf.float32)
        return column if self.threshold is None else tf.cast(column >= self.threshold, tf.float32)

    def logits(
        self,
        user_embeddings: tf.Tensor,
        movie_embeddings: tf.Tensor,
        training: bool = False,
        mixture: tf.Tensor | None = None,
    ) -> tf.Tensor:
        """[batch, dim] x [batch, dim] -> [batch, 1] logits (with MMoE, from this task's
        ``mixture``, [batch, mixture_width], instead of the embeddings)."""
        inputs = head_inputs(user_embeddings, movie_embeddings, self.interaction_features, mixture)
        return self.head(inputs, training=training)

    def predict(
        self,
        user_embeddings: tf.Tensor,
        movie_embeddings: tf.Tensor,
        users: tf.Tensor | None = None,
        movies: tf.Tensor | None = None,
        training: bool = False,
        mixture: tf.Tensor | None = None,
    ) -> tf.Tensor:
        """[batch, 1] probabilities that the label is positive (the ids are unused: the head sees
        only the embeddings, or ``mixture``; the signature is the regression task's, which the
        export calls)."""
        return tf.sigmoid(self.logits(user_embeddings, movie_embeddings, training=training, mixture=mixture))

    def head_weights(self) -> list[tf.Variable]:
        """Every variable :meth:`predict` reads besides the two embeddings (what an export keeps)."""
        return list(self.head.weights)

    def outputs(self, batch: Batch) -> tf.Tensor:
        """[batch, 1] probabilities."""
        return self.predict(batch.user_embeddings, batch.movie_embeddings, mixture=batch.mixture(self.name))

    def compute_loss(self, batch: Batch, training: bool) -> tf.Tensor:
        """This replica's summed cross-entropy over the *global* number of labelled rows; with one
        replica, the batch's mean log-loss over its labelled rows."""
        mask, labelled = labelled_rows(batch, self.name, self.label)
        labels = self.labels(batch.features)
        logits = self.logits(
            batch.user_embeddings, batch.movie_embeddings, training=training, mixture=batch.mixture(self.name)
        )[:, 0]
        losses = tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)
        if not training:
            self.auc.update_state(labels, logits, sample_weight=mask)
            self.log_loss.update_state(labels[:, None], logits[:, None], sample_weight=mask)
        return self.track(tf.math.divide_no_nan(tf.reduce_sum(mask * losses), labelled), batch)
