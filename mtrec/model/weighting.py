"""Loss weights learned in training: uncertainty weighting and GradNorm.

With ``loss.weighting=fixed`` (the default) the model trains on ``sum_i weight_i * L_i`` and no
object of this module exists. The two learned schemes start from the configured weights and
learn them over the *trained* tasks, those whose configured weight is > 0 (a task of weight 0 is
still skipped in training and evaluated, as under fixed weighting):

- :class:`UncertaintyWeighting` (Kendall, Gal & Cipolla, CVPR 2018): a learned log-variance
  ``s_i`` per task, trained with the model by its optimizer, on
  ``total = sum_i (exp(-s_i) * L_i + s_i)``; its weight is ``exp(-s_i)``.
- :class:`GradNormWeighting` (Chen et al., ICML 2018): learned weights ``w_i`` (the model trains
  on ``sum_i w_i * L_i``), moved by their own optimizer towards equal gradient norms at the shared
  layer, scaled by how slowly each task trains.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

MIN_GRADNORM_WEIGHT = 1e-4
"""GradNorm's weights are clipped up to this before renormalising, so they stay positive (the
paper only renormalises; an optimizer step may overshoot below 0)."""


class UncertaintyWeighting(tf.keras.layers.Layer):
    """Kendall et al.'s homoscedastic-uncertainty weighting, in its common simplified form.

    ``total = sum_i (exp(-s_i) * L_i + s_i)`` with ``s_i = log sigma_i^2`` trainable (one scalar
    per trained task), for every kind of task. Kendall's regression form,
    ``L_i / (2 sigma_i^2) + log sigma_i``, is half of this term: the same minimiser in ``s_i``
    (``s_i = log L_i``) and the same model gradients up to a factor 2 per task, so one form serves
    regression, binary and retrieval tasks alike. ``s_i`` starts at ``-log(weight_i)``: the
    configured weight is the initial weight ``exp(-s_i)``.
    """

    def __init__(self, tasks: Sequence[str], initial_weights: Sequence[float]) -> None:
        """Creates the log-variances.

        Args:
          tasks: the trained tasks' names, in the order their losses are stacked.
          initial_weights: each task's weight at the start (> 0), ``exp(-s_i)``.
        """
        super().__init__(name="uncertainty_weighting")
        self.task_names = list(tasks)
        start = -np.log(np.asarray(initial_weights, np.float64))
        self.log_variance = tf.Variable(start.astype(np.float32), name="log_variance", trainable=True)

    def combine(self, losses: tf.Tensor, replicas: int = 1) -> tf.Tensor:
        """This replica's share of ``sum_i (exp(-s_i) * L_i + s_i)``.

        Args:
          losses: [num_tasks] this replica's shares of the tasks' losses.
          replicas: replicas in sync; each adds ``s_i / replicas``, so the replicas' shares sum
            to the total (and their gradients to its gradient).
        """
        s = self.log_variance
        return tf.reduce_sum(tf.exp(-s) * losses + s / replicas)

    def current_weights(self) -> tf.Tensor:
        """[num_tasks] each task's weight now, ``exp(-s_i)``."""
        return tf.exp(-self.log_variance)


class GradNormWeighting(tf.keras.layers.Layer):
    """Chen et al.'s GradNorm: weights that balance the tasks' gradient norms at a shared layer.

    Each step (after the model's own update, with the weights it used):

    - ``G_i = w_i * ||grad_W L_i||``, W the shared layer's output for the batch (see
      :meth:`mtrec.model.multitask.MultitaskModel.train_step`);
    - ``r_i = (L_i / L_i(0)) / mean_j (L_j / L_j(0))``, ``L_i(0)`` the losses of the first step;
    - ``L_grad = sum_i |G_i - mean(G) * r_i ** alpha|``, the target held constant;
    - one step of ``optimizer`` on ``w`` along ``dL_grad/dw``, then ``w`` is clipped up to
      :data:`MIN_GRADNORM_WEIGHT` and renormalised to ``sum_i w_i = num_tasks``.

    The weights start at the configured weights renormalised to sum to the number of tasks.
    They are not trainable variables of the model: only this optimizer moves them.
    """

    def __init__(
        self,
        tasks: Sequence[str],
        initial_weights: Sequence[float],
        optimizer: tf.keras.optimizers.Optimizer,
        alpha: float = 1.5,
    ) -> None:
        """Creates the weights, the first step's losses and the weights' optimizer state.

        Args:
          tasks: the trained tasks' names, in the order their losses are stacked.
          initial_weights: each task's weight at the start (> 0), before renormalising.
          optimizer: a Keras optimizer of its own (not the model's) for the weights.
          alpha: the asymmetry: 0 equalises the gradient norms; larger values give tasks that
            train slower (higher loss ratio) more weight.
        """
        super().__init__(name="gradnorm_weighting")
        self.task_names = list(tasks)
        self.alpha = float(alpha)
        start = np.asarray(initial_weights, np.float64)
        start = len(start) * start / start.sum()
        self.task_weights = tf.Variable(start.astype(np.float32), name="task_weights", trainable=False)
        self.initial_losses = tf.Variable(tf.zeros([len(start)]), name="initial_losses", trainable=False)
        self.steps = tf.Variable(0, name="steps", trainable=False, dtype=tf.int64)
        self.optimizer = optimizer
        # Its state now, not inside the first traced step (which would then be traced twice).
        self.optimizer.build([self.task_weights])

    def combine(self, losses: tf.Tensor, replicas: int = 1) -> tf.Tensor:
        """``sum_i w_i * L_i`` ([num_tasks] losses), no gradient into the weights."""
        return tf.reduce_sum(tf.stop_gradient(self.task_weights) * losses)

    def current_weights(self) -> tf.Tensor:
        """[num_tasks] each task's weight now (they sum to num_tasks)."""
        return tf.convert_to_tensor(self.task_weights)

    def update(self, losses: tf.Tensor, gradient_norms: tf.Tensor) -> tf.Tensor:
        """One GradNorm step on the weights; returns ``L_grad`` (a scalar).

        Args:
          losses: [num_tasks] the tasks' unweighted losses of this step.
          gradient_norms: [num_tasks] ``||grad_W L_i||``, each task's unweighted loss's gradient
            norm at the shared layer.
        """
        losses, norms = tf.stop_gradient(losses), tf.stop_gradient(gradient_norms)
        first = tf.equal(self.steps, 0)
        self.initial_losses.assign(tf.where(first, losses, self.initial_losses))
        self.steps.assign_add(1)
        ratios = tf.math.divide_no_nan(losses, self.initial_losses)
        relative = tf.math.divide_no_nan(ratios, tf.reduce_mean(ratios))
        with tf.GradientTape() as tape:
            tape.watch(self.task_weights)
            norms_now = self.task_weights * norms  # G_i
            target = tf.stop_gradient(tf.reduce_mean(norms_now) * relative**self.alpha)
            gradnorm_loss = tf.reduce_sum(tf.abs(norms_now - target))
        gradient = tape.gradient(gradnorm_loss, self.task_weights)
        self.optimizer.apply_gradients([(gradient, self.task_weights)])
        clipped = tf.maximum(self.task_weights, MIN_GRADNORM_WEIGHT)
        num_tasks = tf.cast(tf.size(clipped), clipped.dtype)
        self.task_weights.assign(num_tasks * clipped / tf.reduce_sum(clipped))
        return gradnorm_loss


LossWeighting = UncertaintyWeighting | GradNormWeighting
