"""The shared user and movie towers, and a batch as every task sees it.

Inside the training graph the towers take integer ids (``mtrec.data`` encodes them once:
vocabulary entry i is index i + 1, 0 is out of vocabulary); the export's lookup tables map raw
string ids onto the same indices (``mtrec.serving``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf

from mtrec.model.losses import global_batch_size


@dataclass(frozen=True)
class Batch:
    """One replica's batch, encoded once by the towers and read by every task.

    Attributes:
      features: the batch's columns: ``user``, ``movie`` ([batch] int32 indices) and the labels.
      users: [num_users] the batch's distinct user indices; ``user_index`` [batch] maps each row
        to its entry.
      movies: [num_movies] the batch's distinct movie indices; ``movie_index`` [batch] likewise.
      unique_user_embeddings: [num_users, dim] the user tower's output for ``users``.
      unique_movie_embeddings: [num_movies, dim] the movie tower's output for ``movies``.
      user_embeddings: [batch, dim] each row's user embedding (gathered).
      movie_embeddings: [batch, dim] each row's movie embedding (gathered).
      batch_size: the global batch size (summed over replicas), float32.
      replicas: replicas in sync (1 without a strategy).
      towers: the towers that encoded the batch (a task may score other ids, e.g. every movie).
      mixtures: with MMoE (:mod:`mtrec.model.mmoe`), each mixed task's [batch, width] mixture of
        the experts, by task name, which its head reads instead of the embeddings; else empty.
    """

    features: dict[str, tf.Tensor]
    users: tf.Tensor
    user_index: tf.Tensor
    movies: tf.Tensor
    movie_index: tf.Tensor
    unique_user_embeddings: tf.Tensor
    unique_movie_embeddings: tf.Tensor
    user_embeddings: tf.Tensor
    movie_embeddings: tf.Tensor
    batch_size: tf.Tensor
    replicas: int
    towers: Towers
    mixtures: Mapping[str, tf.Tensor] = field(default_factory=dict)

    def mixture(self, task: str) -> tf.Tensor | None:
        """``task``'s MMoE mixture, [batch, width]; None without MMoE."""
        return self.mixtures.get(task)


class Towers(tf.keras.layers.Layer):
    """User and movie embeddings shared by every task, with optional implicit feedback and side
    features. A tower's output depends on its id alone, which is what lets :meth:`encode` run each
    tower once per distinct id of a batch."""

    def __init__(
        self,
        num_users: int,
        num_movies: int,
        embedding_dim: int = 32,
        embedding_l2: float = 0.0,
        user_history: tuple[np.ndarray, np.ndarray] | None = None,
        user_features: np.ndarray | None = None,
        movie_features: np.ndarray | None = None,
    ) -> None:
        """Creates the towers' layers; their weights come with :meth:`create_weights`.

        Args:
          num_users: vocabulary size; the tables have one more row, index 0 (out of vocabulary).
          num_movies: likewise for movies; every candidate movie.
          embedding_dim: size of the user and movie embeddings.
          embedding_l2: per-example L2 weight on both embeddings of each row (Koren's SGD
            convention), averaged over the global batch.
          user_history: (movies, row_splits) of each user's training movies, a ragged
            [num_users + 1, None] table; the user tower then adds the 1/sqrt(n)-scaled sum of
            learned "history" embeddings of those movies (SVD++'s implicit feedback).
          user_features: [num_users + 1, F] side features of each user (``mtrec.data.features``);
            the user tower then adds a learned linear projection of its row.
          movie_features: [num_movies + 1, F] side features of each movie, likewise.
        """
        super().__init__(name="towers")
        self.num_users, self.num_movies = num_users, num_movies
        self.embedding_dim = embedding_dim
        self.embedding_l2 = float(embedding_l2)
        self.user_embedding = tf.keras.layers.Embedding(num_users + 1, embedding_dim)
        self.movie_embedding = tf.keras.layers.Embedding(num_movies + 1, embedding_dim)
        self.user_history = None
        if user_history is not None:
            movies, row_splits = user_history
            self.user_history = tf.RaggedTensor.from_row_splits(
                tf.constant(movies, tf.int64), tf.constant(row_splits, tf.int64)
            )
            self.history_embedding = tf.keras.layers.Embedding(num_movies + 1, embedding_dim)
        self.user_features = self.movie_features = None
        if user_features is not None:
            self.user_features = tf.constant(user_features, tf.float32)
            self.user_feature_projection = tf.keras.layers.Dense(embedding_dim, use_bias=False)
        if movie_features is not None:
            self.movie_features = tf.constant(movie_features, tf.float32)
            self.movie_feature_projection = tf.keras.layers.Dense(embedding_dim, use_bias=False)

    @property
    def num_ids(self) -> tuple[int, int]:
        """Rows of the user and movie tables (the vocabularies plus the out-of-vocabulary row)."""
        return self.num_users + 1, self.num_movies + 1

    def create_weights(self) -> None:
        """Creates every weight, in a fixed order: unseeded initializers draw their seeds in the
        order weights are created, so one seed gives the same model whatever else is built."""
        if self.user_history is not None:
            self.history_embedding.build(None)  # read as a table, never called
        if self.user_features is not None:
            self.user_feature_projection.build((None, self.user_features.shape[1]))
        if self.movie_features is not None:
            self.movie_feature_projection.build((None, self.movie_features.shape[1]))
        self.user_embedding.build(None)
        self.movie_embedding.build(None)

    def user(self, users: tf.Tensor) -> tf.Tensor:
        """[batch] user indices -> [batch, dim] query embeddings."""
        embeddings = self.user_embedding(users)
        if self.user_history is not None:
            history = tf.gather(self.user_history, users).to_sparse()
            embeddings += tf.nn.safe_embedding_lookup_sparse(
                self.history_embedding.embeddings, history, combiner="sqrtn"
            )
        if self.user_features is not None:
            embeddings += self.user_feature_projection(tf.gather(self.user_features, users))
        return embeddings

    def movie(self, movies: tf.Tensor) -> tf.Tensor:
        """[batch] movie indices -> [batch, dim] candidate embeddings."""
        embeddings = self.movie_embedding(movies)
        if self.movie_features is not None:
            embeddings += self.movie_feature_projection(tf.gather(self.movie_features, movies))
        return embeddings

    def encode(self, features: dict[str, tf.Tensor]) -> Batch:
        """Runs each tower once per distinct id of the batch; rows gather their id's output."""
        users, user_index = tf.unique(features["user"])
        movies, movie_index = tf.unique(features["movie"])
        unique_users, unique_movies = self.user(users), self.movie(movies)
        user_embeddings = tf.gather(unique_users, user_index)
        return Batch(
            features=features,
            users=users,
            user_index=user_index,
            movies=movies,
            movie_index=movie_index,
            unique_user_embeddings=unique_users,
            unique_movie_embeddings=unique_movies,
            user_embeddings=user_embeddings,
            movie_embeddings=tf.gather(unique_movies, movie_index),
            batch_size=global_batch_size(tf.shape(user_embeddings)[0]),
            replicas=tf.distribute.get_strategy().num_replicas_in_sync,
            towers=self,
        )

    def regularization(self, batch: Batch) -> tf.Tensor | None:
        """This replica's share of the embeddings' L2 penalty (both tasks train them), or None."""
        if not self.embedding_l2:
            return None
        squares = tf.reduce_sum(tf.square(batch.user_embeddings)) + tf.reduce_sum(
            tf.square(batch.movie_embeddings)
        )
        return self.embedding_l2 * tf.math.divide_no_nan(squares, batch.batch_size)
