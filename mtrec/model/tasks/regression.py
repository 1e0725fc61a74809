"""Regression tasks: an MLP head over the shared embeddings, MSE loss, RMSE (the tutorial's rating
task is one, named ``rating``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf
import tensorflow_recommenders as tfrs

from mtrec.model.tasks.base import Task, head_input_width, head_inputs, labelled_rows, mlp_head
from mtrec.model.towers import Batch


class RegressionTask(Task):
    """Predicts a row's ``label`` column (the tutorial's: ``rating``) from its user and movie
    embeddings; trained on the MSE over the rows whose label is known (feature
    ``{name}_mask``, absent: all of them)."""

    def __init__(
        self,
        num_users: int,
        num_movies: int,
        embedding_dim: int,
        weight: float = 1.0,
        rating_hidden_units: Sequence[int] = (256, 128),
        interaction_features: bool = False,
        dropout: float = 0.0,
        biases: bool = False,
        global_mean: float = 0.0,
        fixed_biases: tuple[float, np.ndarray, np.ndarray] | None = None,
        rating_factors: int = 0,
        rating_l2: float = 0.0,
        name: str = "rating",
        label: str = "rating",
        metric_prefix: str = "",
        mixture_width: int | None = None,
    ) -> None:
        """Builds the head (its weights too: a model trained with weight 0 never calls it in
        training, and Keras needs every trainable weight before the first gradient step).

        Args:
          num_users: user vocabulary size (the bias and factor tables have one more row).
          num_movies: movie vocabulary size, likewise.
          embedding_dim: size of the shared embeddings the head reads.
          weight: the task's weight in the total loss.
          rating_hidden_units: ReLU layer sizes of the head; a Dense(1) output follows.
          interaction_features: feed the head ``[u, m, u * m]`` instead of ``[u, m]``.
          dropout: dropout rate on the head's input.
          biases: add a global bias (starting at ``global_mean``) and user and movie biases.
          global_mean: the labelled training ratings' mean.
          fixed_biases: (mean, [num_users + 1] user biases, [num_movies + 1] movie biases) to use,
            untrained, instead of learning them (with ``biases``): Koren's ALS baseline.
          rating_factors: size of rating-only user and movie factors whose dot product is added
            (biased matrix factorisation beside the MLP head); 0 for none.
          rating_l2: per-example L2 weight on the learned biases and rating factors.
          name: the task's name: its loss is reported as ``{name}_loss``.
          label: the feature holding the label.
          metric_prefix: put before the metric's name (``rmse``).
          mixture_width: the head reads the model's MMoE mixture for this task, [batch,
            mixture_width] (:mod:`mtrec.model.mmoe`), instead of the embeddings; None: no MMoE.
        """
        super().__init__(name, weight)
        self.label = label
        self.interaction_features = interaction_features
        self.biases = biases
        self.learned_biases = biases and fixed_biases is None
        self.rating_factors = rating_factors
        self.rating_l2 = float(rating_l2)
        self.mixture_width = mixture_width
        self.head = mlp_head(
            rating_hidden_units, dropout, head_input_width(embedding_dim, interaction_features, mixture_width)
        )
        if biases:
            trainable = fixed_biases is None
            mean, user_init, movie_init = fixed_biases or (global_mean, "zeros", "zeros")
            if not trainable:
                user_init = tf.keras.initializers.Constant(np.asarray(user_init)[:, None])
                movie_init = tf.keras.initializers.Constant(np.asarray(movie_init)[:, None])
            self.global_bias = tf.Variable(mean, name="global_bias", trainable=trainable, dtype=tf.float32)
            self.user_bias = tf.keras.layers.Embedding(num_users + 1, 1, user_init, trainable=trainable)
            self.movie_bias = tf.keras.layers.Embedding(num_movies + 1, 1, movie_init, trainable=trainable)
            self.user_bias.build(None)
            self.movie_bias.build(None)
        if rating_factors:

            def init() -> tf.keras.initializers.Initializer:
                return tf.keras.initializers.RandomNormal(
                    stddev=0.05, seed=int(tf.random.uniform([], 0, 2**30))
                )

            self.user_factors = tf.keras.layers.Embedding(num_users + 1, rating_factors, init())
            self.movie_factors = tf.keras.layers.Embedding(num_movies + 1, rating_factors, init())
            self.user_factors.build(None)
            self.movie_factors.build(None)
        # Per-example (masked) squared errors, averaged in compute_loss over the labelled rows of the
        # global batch: the tutorial's MSE when every rating is known and there is one replica.
        self.task = tfrs.tasks.Ranking(
            loss=tf.keras.losses.MeanSquaredError(reduction=tf.keras.losses.Reduction.NONE),
            metrics=[tf.keras.metrics.RootMeanSquaredError(name=f"{metric_prefix}rmse")],
        )

    @property
    def evaluation_metrics(self) -> list[tf.keras.metrics.Metric]:
        return list(self.task.metrics)

    def predict(
        self,
        user_embeddings: tf.Tensor,
        movie_embeddings: tf.Tensor,
        users: tf.Tensor | None = None,
        movies: tf.Tensor | None = None,
        training: bool = False,
        mixture: tf.Tensor | None = None,
    ) -> tf.Tensor:
        """[batch, dim] x [batch, dim] -> [batch, 1] predicted ratings.

        The tutorial's head sees only the two embeddings; the bias and rating-factor options also
        need the [batch] user and movie indices. With MMoE the head reads this task's
        ``mixture`` ([batch, mixture_width]) instead of the embeddings.
        """
        inputs = head_inputs(user_embeddings, movie_embeddings, self.interaction_features, mixture)
        rating = self.head(inputs, training=training)
        if self.biases:
            rating += self.global_bias + self.user_bias(users) + self.movie_bias(movies)
        if self.rating_factors:
            rating += tf.reduce_sum(self.user_factors(users) * self.movie_factors(movies), 1, keepdims=True)
        return rating

    def head_weights(self) -> list[tf.Variable]:
        """Every variable :meth:`predict` reads besides the two embeddings (what an export keeps)."""
        weights = list(self.head.weights)
        if self.biases:
            weights += [self.global_bias, *self.user_bias.weights, *self.movie_bias.weights]
        if self.rating_factors:
            weights += [*self.user_factors.weights, *self.movie_factors.weights]
        return weights

    def outputs(self, batch: Batch) -> tf.Tensor:
        f = batch.features
        return self.predict(
            batch.user_embeddings,
            batch.movie_embeddings,
            f["user"],
            f["movie"],
            mixture=batch.mixture(self.name),
        )

    def _labelled(self, batch: Batch) -> tuple[tf.Tensor, tf.Tensor]:
        """[batch] the rows' label mask, and how many rows of the global batch are labelled."""
        return labelled_rows(batch, self.name, self.label)

    def compute_loss(self, batch: Batch, training: bool) -> tf.Tensor:
        """This replica's squared errors over the *global* number of labelled rows (exact for
        uneven last batches); with one replica, the batch's MSE over its labelled rows."""
        f = batch.features
        mask, labelled = self._labelled(batch)
        predictions = self.predict(
            batch.user_embeddings,
            batch.movie_embeddings,
            f["user"],
            f["movie"],
            training=training,
            mixture=batch.mixture(self.name),
        )
        squared_errors = self.task(  # [batch]; a masked row (weight 0) adds nothing
            labels=f[self.label][:, None],
            predictions=predictions,
            sample_weight=mask,
            compute_metrics=not training,
        )
        return self.track(tf.math.divide_no_nan(tf.reduce_sum(squared_errors), labelled), batch)

    def regularization(self, batch: Batch) -> tf.Tensor | None:
        """Per-example L2 of each labelled row's own biases and factors, on the scale of the
        rating loss they regularise (Koren's SGD convention)."""
        if not (self.rating_l2 and (self.learned_biases or self.rating_factors)):
            return None
        users, movies = batch.features["user"], batch.features["movie"]
        params = []
        if self.learned_biases:
            params += [self.user_bias(users), self.movie_bias(movies)]
        if self.rating_factors:
            params += [self.user_factors(users), self.movie_factors(movies)]
        squares = tf.add_n([tf.reduce_sum(tf.square(p), axis=1) for p in params])  # [batch]
        mask, labelled = self._labelled(batch)
        return self.rating_l2 * tf.math.divide_no_nan(tf.reduce_sum(mask * squares), labelled)
