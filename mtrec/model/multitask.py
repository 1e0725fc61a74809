"""The multitask model: shared towers and a list of tasks, trained on the weighted sum of their losses.

This is the model of TFRS's "multitask recommenders" tutorial, generalised the way TFRS's own
design suggests: each task is a layer that owns its head, loss and metrics
(:mod:`mtrec.model.tasks`), and the model only composes them.
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf
import tensorflow_recommenders as tfrs

from mtrec.model.tasks.base import Task
from mtrec.model.tasks.binary import BinaryTask
from mtrec.model.tasks.regression import RegressionTask
from mtrec.model.tasks.retrieval import RetrievalTask
from mtrec.model.towers import Towers


class MultitaskModel(tfrs.models.Model):
    """Trained on ``sum(task.weight * task loss) + regularisation``.

    Features are dicts with ``user`` and ``movie`` ([batch] int32 indices, 1-based into the
    vocabularies; 0 is the out-of-vocabulary bucket), the columns the tasks take labels from
    (``rating`` and any other, [batch] float32) and, for a task whose labels are masked,
    ``{task}_mask`` ([batch] float32, 0 where the task does not know the label).
    """

    def __init__(self, towers: Towers, tasks: Sequence[Task]) -> None:
        """Composes the towers and tasks, then creates the towers' weights.

        Args:
          towers: the shared user and movie towers.
          tasks: the tasks, in the order their losses are added; names must be distinct.

        Raises:
          ValueError: no task, or two tasks of one name.
        """
        super().__init__()
        names = [task.name for task in tasks]
        if not names or len(set(names)) != len(names):
            raise ValueError(f"a model needs tasks with distinct names (got {names})")
        self.towers = towers
        self.tasks = list(tasks)
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
        return {m.name: m.result() for m in self.metrics if m.name not in skipped}

    def index_candidates(self) -> tf.Tensor:
        """Indexes every movie's current candidate vector for the retrieval task's top-K metrics
        and returns them ([num_movies, dim (+1)], row i is movie index i + 1); call after training."""
        retrieval = self.retrieval
        return retrieval.index_candidates(self.towers.movie(tf.range(1, retrieval.num_movies + 1)))

    def call(self, features: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """The rows' user and movie embeddings, and each task head's predictions by task name."""
        batch = self.towers.encode(features)
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
        batch = self.towers.encode(features)
        # A task with weight 0 adds nothing to the gradients; skip it in training, but still
        # evaluate it, so every run reports every metric.
        active = [task for task in self.tasks if task.weight > 0 or not training]
        total = tf.constant(0.0)
        for task in active:
            total += task.weight * task.compute_loss(batch, training)
        if training:
            penalty = tf.constant(0.0)
            owners: list[Towers | Task] = [self.towers, *(task for task in active if task.weight > 0)]
            for owner in owners:
                term = owner.regularization(batch)
                if term is not None:
                    penalty += term
            total += penalty
        self.loss_tracker.update_state(total * batch.replicas)
        return total
