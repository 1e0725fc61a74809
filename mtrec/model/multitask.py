"""The multitask model: shared towers and a list of tasks, trained on the weighted sum of their losses.

This is the model of TFRS's "multitask recommenders" tutorial, generalised the way TFRS's own
design suggests: each task is a layer that owns its head, loss and metrics
(:mod:`mtrec.model.tasks`), and the model only composes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import cast

import tensorflow as tf
import tensorflow_recommenders as tfrs

from mtrec.model.mmoe import MMoE
from mtrec.model.tasks.base import Task
from mtrec.model.tasks.binary import BinaryTask
from mtrec.model.tasks.regression import RegressionTask
from mtrec.model.tasks.retrieval import RetrievalTask
from mtrec.model.towers import Batch, Towers
from mtrec.model.weighting import GradNormWeighting, LossWeighting


class MultitaskModel(tfrs.models.Model):
    """Trained on ``sum(task.weight * task loss) + regularisation``.

    Features are dicts with ``user`` and ``movie`` ([batch] int32 indices, 1-based into the
    vocabularies; 0 is the out-of-vocabulary bucket), the columns the tasks take labels from
    (``rating`` and any other, [batch] float32) and, for a task whose labels are masked,
    ``{task}_mask`` ([batch] float32, 0 where the task does not know the label).
    """

    def __init__(
        self,
        towers: Towers,
        tasks: Sequence[Task],
        weighting: LossWeighting | None = None,
        mmoe: MMoE | None = None,
    ) -> None:
        """Composes the towers and tasks, then creates the towers' weights.

        Args:
          towers: the shared user and movie towers.
          tasks: the tasks, in the order their losses are added; names must be distinct.
          weighting: learned loss weights over the tasks it names (:mod:`mtrec.model.weighting`);
            None: the tasks' fixed weights.
          mmoe: shared experts and per-task gates between the embeddings and the heads of the
            tasks it names (built with the heads' ``mixture_width``); None: each head reads the
            embeddings. The retrieval task always reads the embeddings.

        Raises:
          ValueError: no task, or two tasks of one name, or a weighting naming other tasks than
            those of weight > 0, or heads built for other mixtures than the MMoE's (tasks
            and widths).
        """
        super().__init__()
        names = [task.name for task in tasks]
        if not names or len(set(names)) != len(names):
            raise ValueError(f"a model needs tasks with distinct names (got {names})")
        self.towers = towers
        self.tasks = list(tasks)
        trained = [task.name for task in tasks if task.weight > 0]
        if weighting is not None and weighting.task_names != trained:
            raise ValueError(f"the weighting's tasks {weighting.task_names} are not those trained: {trained}")
        self.weighting = weighting
        mixed = {task.name: task.mixture_width for task in tasks if task.mixture_width is not None}
        wanted = {} if mmoe is None else dict.fromkeys(mmoe.task_names, mmoe.output_width)
        if mixed != wanted:
            raise ValueError(f"the heads that read an MMoE mixture {mixed} are not the MMoE's tasks {wanted}")
        self.mmoe = mmoe
        self.loss_tracker = tf.keras.metrics.Mean(name="loss")
        towers.create_weights()

    def task(self, name: str) -> Task:
        """The task called ``name``."""
        for task in self.tasks:
            if task.name == name:
                return task
        raise KeyError(f"no task {name!r} (tasks: {[t.name for t in self.tasks]})")

    @property
    def predict_task(self) -> RegressionTask | BinaryTask:
        """What the export's ``predict`` answers: the first regression task (the tutorial's rating
        task), else the first binary task."""
        for kind in (RegressionTask, BinaryTask):
            found = [task for task in self.tasks if isinstance(task, kind)]
            if found:
                return found[0]
        raise LookupError("the model has no regression or binary task")

    @property
    def retrieval(self) -> RetrievalTask:
        """The retrieval task."""
        return self._only(RetrievalTask)

    def _only(self, kind: type) -> Task:
        found = [task for task in self.tasks if isinstance(task, kind)]
        if len(found) != 1:
            raise LookupError(f"expected one {kind.__name__}, the model has {len(found)}")
        return found[0]

    # Traced as written: nothing in these steps branches or loops on a tensor (the loss's loop is an
    # explicit tf.while_loop), so AutoGraph's conversion would only add tracing time (measured: the
    # tutorial's three training steps traced in 1.2-1.4 s, against 1.4-1.7 s converted).
    @tf.autograph.experimental.do_not_convert
    def train_step(self, features: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        if isinstance(self.weighting, GradNormWeighting):
            return self._gradnorm_train_step(features)
        with tf.GradientTape() as tape:
            loss = self.compute_loss(features, training=True)
            if self.losses:
                loss += tf.nn.scale_regularization_loss(tf.add_n(self.losses))
        variables = self.trainable_variables
        gradients = tape.gradient(loss, variables)
        # A skipped task's weights get no gradient at all (None), not a zero one.
        self.optimizer.apply_gradients((g, v) for g, v in zip(gradients, variables) if g is not None)
        return self._logs(training=True)

    @tf.autograph.experimental.do_not_convert
    def _gradnorm_train_step(self, features: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """The model's step on ``sum_i w_i * L_i``, then GradNorm's step on the weights ``w``.

        The shared layer whose gradient norms GradNorm balances is the towers' output for the
        batch's distinct users and movies ([num_users, dim] and [num_movies, dim], one norm over
        both). With the tutorial's plain embedding towers these are the embedding-table rows the
        batch reads, each once, so the norm is that of the gradient with respect to the shared
        embedding tables; with side features or history it is the towers' last output. One
        replica only (the config checks refuse other strategies): across replicas the norm of the
        global gradient is not a function of the replicas' norms.
        """
        weighting = cast(GradNormWeighting, self.weighting)
        with tf.GradientTape(persistent=True) as tape:
            batch = self.encode(features)
            loss, task_losses = self._loss(batch, training=True)
            if self.losses:
                loss += tf.nn.scale_regularization_loss(tf.add_n(self.losses))
        variables = self.trainable_variables
        gradients = tape.gradient(loss, variables)
        shared = [batch.unique_user_embeddings, batch.unique_movie_embeddings]
        norms = tf.stack(
            [tf.linalg.global_norm(tape.gradient(task_loss, shared)) for task_loss in task_losses]
        )
        del tape
        self.optimizer.apply_gradients((g, v) for g, v in zip(gradients, variables) if g is not None)
        weighting.update(tf.stack(task_losses), norms)
        return self._logs(training=True)

    @tf.autograph.experimental.do_not_convert
    def test_step(self, features: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        self.compute_loss(features, training=False)
        return self._logs(training=False)

    def _logs(self, training: bool) -> dict[str, tf.Tensor]:
        """Epoch means of the losses; in evaluation also every task's metrics."""
        skipped = set()
        if training:
            for task in self.tasks:
                skipped |= {m.name for m in task.evaluation_metrics}
                if task.weight == 0:
                    skipped.add(task.loss_tracker.name)
        logs = {m.name: m.result() for m in self.metrics if m.name not in skipped}
        if training:
            logs.update(self.learned_weights())
        return logs

    def learned_weights(self) -> dict[str, tf.Tensor]:
        """``weight/<task>``: each trained task's learned weight now; empty for fixed weights."""
        weighting = self.weighting
        if weighting is None:
            return {}

        def by_name(weights: tf.Tensor) -> dict[str, tf.Tensor]:
            return {f"weight/{name}": weights[i] for i, name in enumerate(weighting.task_names)}

        context = tf.distribute.get_replica_context()
        if context is None or context.num_replicas_in_sync == 1:
            return by_name(weighting.current_weights())
        # Keras sums what the replicas' steps return (MirroredStrategy) unless it is one tensor for
        # all of them, as a metric's result is: made once, in cross-replica context.
        return context.merge_call(lambda strategy: by_name(weighting.current_weights()))

    def index_candidates(self) -> tf.Tensor:
        """Indexes every movie's current candidate vector for the retrieval task's top-K metrics
        and returns them ([num_movies, dim (+1)], row i is movie index i + 1); call after training."""
        retrieval = self.retrieval
        return retrieval.index_candidates(self.towers.movie(tf.range(1, retrieval.num_movies + 1)))

    def encode(self, features: dict[str, tf.Tensor]) -> Batch:
        """The towers' encoding of a batch, with each mixed task's MMoE mixture when configured."""
        batch = self.towers.encode(features)
        if self.mmoe is None:
            return batch
        return replace(batch, mixtures=self.mmoe(batch.user_embeddings, batch.movie_embeddings))

    def call(self, features: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """The rows' user and movie embeddings, and each task head's predictions by task name."""
        batch = self.encode(features)
        outputs = {"user": batch.user_embeddings, "movie": batch.movie_embeddings}
        for task in self.tasks:
            predictions = task.outputs(batch)
            if predictions is not None:
                outputs[task.name] = predictions
        return outputs

    def compute_loss(self, features: dict[str, tf.Tensor], training: bool = False) -> tf.Tensor:
        """This replica's share of the weighted loss of the global batch.

        Under a ``tf.distribute`` strategy every replica computes its share and the optimizer sums
        the replicas' gradients (each task's loss says how it shares out); with one replica these
        are the usual batch losses. The loss trackers get share x replicas, so they report
        global-batch values however many replicas.
        """
        return self._loss(self.encode(features), training)[0]

    def _loss(self, batch: Batch, training: bool) -> tuple[tf.Tensor, list[tf.Tensor]]:
        """The weighted loss (as :meth:`compute_loss`) and, with learned weights, the
        [weighting's tasks] unweighted losses it combines (else an empty list)."""
        # A task with weight 0 adds nothing to the gradients; skip it in training, but still
        # evaluate it, so every run reports every metric.
        active = [task for task in self.tasks if task.weight > 0 or not training]
        task_losses: list[tf.Tensor] = []
        if self.weighting is None:
            total = tf.constant(0.0)
            for task in active:
                total += task.weight * task.compute_loss(batch, training)
        else:
            losses = {task.name: task.compute_loss(batch, training) for task in active}
            task_losses = [losses[name] for name in self.weighting.task_names]
            total = self.weighting.combine(tf.stack(task_losses), batch.replicas)
        if training:
            penalty = tf.constant(0.0)
            owners: list[Towers | Task] = [self.towers, *(task for task in active if task.weight > 0)]
            for owner in owners:
                term = owner.regularization(batch)
                if term is not None:
                    penalty += term
            total += penalty
        self.loss_tracker.update_state(total * batch.replicas)
        return total, task_losses
