"""What every task is: a Keras layer with a weight, a loss and metrics of its own.

The model (:class:`mtrec.model.multitask.MultitaskModel`) encodes a batch once with the shared
towers and hands the same :class:`~mtrec.model.towers.Batch` to each task; its total loss is the
weighted sum of the tasks' losses, plus the regularisation they and the towers ask for.
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from mtrec.model.losses import global_batch_size
from mtrec.model.towers import Batch


def mlp_head(hidden_units: Sequence[int], dropout: float, input_width: int) -> tf.keras.Sequential:
    """ReLU layers of ``hidden_units`` then a ``Dense(1)``, after an optional dropout, built for
    [batch, input_width] inputs (so its weights exist before the first gradient step)."""
    head = tf.keras.Sequential(
        [tf.keras.layers.Dropout(dropout)] * (dropout > 0)
        + [tf.keras.layers.Dense(units, activation="relu") for units in hidden_units]
        + [tf.keras.layers.Dense(1)]
    )
    head.build((None, input_width))
    return head


def head_input_width(embedding_dim: int, interaction_features: bool, mixture_width: int | None) -> int:
    """Width of what a head reads: :func:`head_inputs`'s."""
    if mixture_width is not None:
        return mixture_width
    return (3 if interaction_features else 2) * embedding_dim


def head_inputs(
    user_embeddings: tf.Tensor,
    movie_embeddings: tf.Tensor,
    interaction_features: bool,
    mixture: tf.Tensor | None = None,
) -> tf.Tensor:
    """What a regression or binary head reads: ``mixture`` ([batch, width], the task's MMoE
    mixture) when given, else [batch, 2 * dim] ``[u, m]`` or, with ``interaction_features``,
    [batch, 3 * dim] ``[u, m, u * m]``."""
    if mixture is not None:
        return mixture
    parts = [user_embeddings, movie_embeddings]
    if interaction_features:
        parts.append(user_embeddings * movie_embeddings)
    return tf.concat(parts, axis=1)


def labelled_rows(batch: Batch, task: str, label: str) -> tuple[tf.Tensor, tf.Tensor]:
    """[batch] float32 1 where ``task`` knows the row's label (feature ``{task}_mask``; absent:
    every row), and how many rows of the global batch it knows (summed over replicas)."""
    mask = batch.features.get(f"{task}_mask", tf.ones_like(batch.features[label], tf.float32))
    return mask, global_batch_size(tf.reduce_sum(mask))


class Task(tf.keras.layers.Layer):
    """A named task: ``weight * compute_loss(batch)`` is its share of the total loss.

    Subclasses implement :meth:`compute_loss` (which also updates the evaluation metrics when
    not training) and list those metrics in :attr:`evaluation_metrics`. A task whose weight is 0
    is skipped in training (it adds no gradient, and reports no training loss) but still
    evaluated, so every run reports every metric.
    """

    mixture_width: int | None = None
    """Width of the MMoE mixture the task's head reads (:mod:`mtrec.model.mmoe`); None: the head
    reads the embeddings, or the task has no head."""

    def __init__(self, name: str, weight: float) -> None:
        super().__init__(name=name)
        self.weight = float(weight)
        self.loss_tracker = tf.keras.metrics.Mean(name=f"{name}_loss")

    @property
    def evaluation_metrics(self) -> list[tf.keras.metrics.Metric]:
        """Metrics reported in evaluation only (the loss tracker is reported in training too)."""
        return []

    def compute_loss(self, batch: Batch, training: bool) -> tf.Tensor:
        """This replica's share of the task's (unweighted) loss of the global batch."""
        raise NotImplementedError

    def regularization(self, batch: Batch) -> tf.Tensor | None:
        """This replica's share of the task's own weights' penalty in training, or None."""
        return None

    def outputs(self, batch: Batch) -> tf.Tensor | None:
        """The task head's predictions for the batch's rows, if it has a head."""
        return None

    def track(self, loss: tf.Tensor, batch: Batch) -> tf.Tensor:
        """Records a replica's share of the loss as the global batch's value; returns ``loss``."""
        self.loss_tracker.update_state(loss * batch.replicas)
        return loss
