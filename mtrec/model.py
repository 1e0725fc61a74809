"""The TFRS multitask model: shared user and movie towers, a rating task and a retrieval task.

This is the model of TFRS's "multitask recommenders" tutorial. Inside the training graph the
towers take integer ids (``mtrec.data`` encodes them once: vocabulary entry i is index i + 1, 0 is
out of vocabulary); the export's lookup tables map raw string ids onto the same indices
(``mtrec.serving``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import tensorflow as tf
import tensorflow_recommenders as tfrs

from mtrec.losses import global_batch_size, global_in_batch_softmax_loss, grouped_in_batch_softmax_loss
from mtrec.metrics import RankTopK


@dataclass(frozen=True)
class ModelOptions:
    """What ``experiment=best_joint`` adds to the tutorial's model (defaults: the tutorial's).

    Attributes:
      biases: add a global bias (starting at ``global_mean``) and user and movie biases to the
        rating head's output.
      global_mean: the training ratings' mean.
      rating_factors: size of rating-only user and movie factors whose dot product is added to the
        rating (biased matrix factorisation beside the MLP head); 0 for none.
      interaction_features: feed the MLP head ``[u, m, u * m]`` instead of ``[u, m]``.
      dropout: dropout rate on the rating head's input.
      embedding_l2: per-example L2 weight on the shared user and movie embeddings.
      rating_l2: per-example L2 weight on the biases and rating factors.
      temperature: in-batch softmax logits are divided by it.
      movie_log_q: [num_movies + 1] log sampling probability of each movie as an in-batch
        candidate (its training frequency); subtracted from the logits (logQ correction) when set.
      fixed_biases: (mean, [num_users + 1] user biases, [num_movies + 1] movie biases) to use,
        untrained, instead of learning them (with ``biases``): Koren's ALS baseline, which stays
        well regularised however few ratings are labelled.
      user_history: (movies, row_splits) of each user's training movies, a ragged
        [num_users + 1, None] table; when set, the user tower adds the 1/sqrt(n)-scaled sum of
        learned "history" embeddings of those movies (SVD++'s implicit feedback).
      user_features: [num_users + 1, F] side features of each user (``mtrec.features``); when
        set, the user tower adds a learned linear projection of its row.
      movie_features: [num_movies + 1, F] side features of each movie, likewise for the movie tower.
      movie_score_bias: [num_movies + 1] added to each movie's retrieval score wherever movies are
        ranked (top-K metrics, Recall/NDCG, the export's ``recommend``), not in the training loss:
        a popularity prior on top of the dot product (see ``model.popularity_prior``).
    """

    biases: bool = False
    global_mean: float = 0.0
    rating_factors: int = 0
    interaction_features: bool = False
    dropout: float = 0.0
    embedding_l2: float = 0.0
    rating_l2: float = 0.0
    temperature: float = 1.0
    movie_log_q: np.ndarray | None = None
    fixed_biases: tuple[float, np.ndarray, np.ndarray] | None = None
    user_history: tuple[np.ndarray, np.ndarray] | None = None
    user_features: np.ndarray | None = None
    movie_features: np.ndarray | None = None
    movie_score_bias: np.ndarray | None = None


class MultitaskModel(tfrs.models.Model):
    """Trained on ``rating_weight * rating_loss + retrieval_weight * retrieval_loss``.

    Features are dicts with ``user`` and ``movie`` ([batch] int32 indices, 1-based into the
    vocabularies; 0 is the out-of-vocabulary bucket), ``rating`` ([batch] float32) and optionally
    ``rating_mask`` ([batch] float32, 0 where the rating is unknown; absent means all known).
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
        retrieval_candidates: str = "in_batch",
        options: ModelOptions | None = None,
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
          retrieval_candidates: "in_batch" (TFRS's: each query's negatives are the batch's other
            movies) or "all" (an exact softmax over every movie of the catalogue; no logQ needed).
          options: the levers beyond the tutorial's model (biases, regularisation, logQ...); the
            defaults build the tutorial's model exactly.
        """
        super().__init__()
        self.options = options = options or ModelOptions()
        self.rating_weight = float(rating_weight)
        self.retrieval_weight = float(retrieval_weight)
        self.num_movies = len(movie_vocab)
        if retrieval_reduction not in ("sum", "mean"):
            raise ValueError(f"retrieval_reduction must be 'sum' or 'mean' (got {retrieval_reduction!r})")
        self.retrieval_reduction = retrieval_reduction
        if retrieval_candidates not in ("in_batch", "all"):
            raise ValueError(
                f"retrieval_candidates must be 'in_batch' or 'all' (got {retrieval_candidates!r})"
            )
        self.retrieval_candidates = retrieval_candidates

        self.user_embedding = tf.keras.layers.Embedding(len(user_vocab) + 1, embedding_dim)
        self.movie_embedding = tf.keras.layers.Embedding(len(movie_vocab) + 1, embedding_dim)
        self.rating_model = tf.keras.Sequential(
            [tf.keras.layers.Dropout(options.dropout)] * (options.dropout > 0)
            + [tf.keras.layers.Dense(units, activation="relu") for units in rating_hidden_units]
            + [tf.keras.layers.Dense(1)]
        )
        # Built now: a model trained with rating_weight=0 never calls the head in training, and
        # Keras needs every trainable weight to exist before the first gradient step.
        self.rating_model.build((None, (3 if options.interaction_features else 2) * embedding_dim))
        if options.biases:
            fixed = options.fixed_biases
            trainable = fixed is None
            mean, user_init, movie_init = fixed or (options.global_mean, "zeros", "zeros")
            if not trainable:
                user_init = tf.keras.initializers.Constant(np.asarray(user_init)[:, None])
                movie_init = tf.keras.initializers.Constant(np.asarray(movie_init)[:, None])
            self.global_bias = tf.Variable(mean, name="global_bias", trainable=trainable, dtype=tf.float32)
            self.user_bias = tf.keras.layers.Embedding(len(user_vocab) + 1, 1, user_init, trainable=trainable)
            self.movie_bias = tf.keras.layers.Embedding(
                len(movie_vocab) + 1, 1, movie_init, trainable=trainable
            )
        if options.rating_factors:
            # Rating-only factors (biased MF); the shared embeddings still feed the MLP head.
            def init():
                return tf.keras.initializers.RandomNormal(
                    stddev=0.05, seed=int(tf.random.uniform([], 0, 2**30))
                )

            self.user_factors = tf.keras.layers.Embedding(len(user_vocab) + 1, options.rating_factors, init())
            self.movie_factors = tf.keras.layers.Embedding(
                len(movie_vocab) + 1, options.rating_factors, init()
            )
        self.movie_log_q = (
            None if options.movie_log_q is None else tf.constant(options.movie_log_q, tf.float32)
        )
        self.user_history = None
        if options.user_history is not None:
            movies, row_splits = options.user_history
            self.user_history = tf.RaggedTensor.from_row_splits(
                tf.constant(movies, tf.int64), tf.constant(row_splits, tf.int64)
            )
            self.history_embedding = tf.keras.layers.Embedding(len(movie_vocab) + 1, embedding_dim)
            self.history_embedding.build(None)
        self.movie_score_bias = None
        if options.movie_score_bias is not None:
            self.movie_score_bias = tf.constant(options.movie_score_bias, tf.float32)
        self.user_features = self.movie_features = None
        if options.user_features is not None:
            self.user_features = tf.constant(options.user_features, tf.float32)
            self.user_feature_projection = tf.keras.layers.Dense(embedding_dim, use_bias=False)
            self.user_feature_projection.build((None, options.user_features.shape[1]))
        if options.movie_features is not None:
            self.movie_features = tf.constant(options.movie_features, tf.float32)
            self.movie_feature_projection = tf.keras.layers.Dense(embedding_dim, use_bias=False)
            self.movie_feature_projection.build((None, options.movie_features.shape[1]))

        # Per-example (masked) squared errors, averaged in compute_loss over the labelled rows of the
        # global batch: the tutorial's MSE when every rating is known and there is one replica.
        self.rating_task = tfrs.tasks.Ranking(
            loss=tf.keras.losses.MeanSquaredError(reduction=tf.keras.losses.Reduction.NONE),
            metrics=[tf.keras.metrics.RootMeanSquaredError(name="rmse")],
        )
        # Top-K is scored against every movie by one brute-force pass over their embeddings,
        # indexed once after training (see index_candidates), not streamed per batch.
        self.candidate_index = tfrs.layers.factorized_top_k.BruteForce(k=max(top_k))
        self.retrieval_task = tfrs.tasks.Retrieval(
            metrics=RankTopK(self.candidate_index, ks=list(top_k)),
        )
        self.loss_tracker = tf.keras.metrics.Mean(name="loss")
        self.rating_loss_tracker = tf.keras.metrics.Mean(name="rating_loss")
        self.retrieval_loss_tracker = tf.keras.metrics.Mean(name="retrieval_loss")

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

    def score_queries(self, user_embeddings: tf.Tensor) -> tf.Tensor:
        """[batch, dim] user embeddings -> the vectors whose dot product with :meth:`score_candidates`
        is the retrieval score: the embeddings, plus a column of ones when movies have a score bias."""
        if self.movie_score_bias is None:
            return user_embeddings
        return tf.concat([user_embeddings, tf.ones_like(user_embeddings[:, :1])], axis=1)

    def score_candidates(self, movie_embeddings: tf.Tensor, movies: tf.Tensor) -> tf.Tensor:
        """[batch, dim] embeddings of [batch] movie indices -> candidate vectors for ranking: the
        embeddings, plus each movie's score bias as one more column (when configured)."""
        if self.movie_score_bias is None:
            return movie_embeddings
        return tf.concat([movie_embeddings, tf.gather(self.movie_score_bias, movies)[:, None]], axis=1)

    def index_candidates(self) -> tf.Tensor:
        """Indexes every movie's current candidate vector (:meth:`score_candidates`) for top-K
        evaluation and returns them ([num_movies, dim (+1)], row i is movie index i + 1); call
        after training."""
        ids = tf.range(1, self.num_movies + 1)
        embeddings = self.score_candidates(self.movie_tower(ids), ids)
        index = self.candidate_index
        if getattr(index, "_candidates", None) is None:
            index.index(embeddings, identifiers=ids)
        else:
            # BruteForce.index() adds new variables each call, which functions traced earlier (such
            # as Keras's cached test function, when validating every epoch) never see: they would
            # score against the first epoch's candidates. Update the indexed ones in place instead.
            index._candidates.assign(embeddings)
        return embeddings

    def predict_rating(
        self,
        user_embeddings: tf.Tensor,
        movie_embeddings: tf.Tensor,
        users: tf.Tensor | None = None,
        movies: tf.Tensor | None = None,
        training: bool = False,
    ) -> tf.Tensor:
        """[batch, dim] x [batch, dim] -> [batch, 1] predicted ratings.

        The tutorial's head sees only the two embeddings; the bias and rating-factor options also
        need the [batch] user and movie indices.
        """
        parts = [user_embeddings, movie_embeddings]
        if self.options.interaction_features:
            parts.append(user_embeddings * movie_embeddings)
        rating = self.rating_model(tf.concat(parts, axis=1), training=training)
        if self.options.biases:
            rating += self.global_bias + self.user_bias(users) + self.movie_bias(movies)
        if self.options.rating_factors:
            rating += tf.reduce_sum(self.user_factors(users) * self.movie_factors(movies), 1, keepdims=True)
        return rating

    def rating_head_weights(self) -> list[tf.Variable]:
        """Every variable ``predict_rating`` reads besides the two embeddings (what an export keeps)."""
        weights = list(self.rating_model.weights)
        if self.options.biases:
            weights += [self.global_bias, *self.user_bias.weights, *self.movie_bias.weights]
        if self.options.rating_factors:
            weights += [*self.user_factors.weights, *self.movie_factors.weights]
        return weights

    def user_tower(self, users: tf.Tensor) -> tf.Tensor:
        """[batch] user indices -> [batch, dim] query embeddings (shared by both tasks)."""
        embeddings = self.user_embedding(users)
        if self.user_history is not None:
            history = tf.gather(self.user_history, users).to_sparse()
            embeddings += tf.nn.safe_embedding_lookup_sparse(
                self.history_embedding.embeddings, history, combiner="sqrtn"
            )
        if self.user_features is not None:
            embeddings += self.user_feature_projection(tf.gather(self.user_features, users))
        return embeddings

    def movie_tower(self, movies: tf.Tensor) -> tf.Tensor:
        """[batch] movie indices -> [batch, dim] candidate embeddings (shared by both tasks)."""
        embeddings = self.movie_embedding(movies)
        if self.movie_features is not None:
            embeddings += self.movie_feature_projection(tf.gather(self.movie_features, movies))
        return embeddings

    def call(self, features: dict[str, tf.Tensor]) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        user_embeddings = self.user_tower(features["user"])
        movie_embeddings = self.movie_tower(features["movie"])
        rating = self.predict_rating(user_embeddings, movie_embeddings, features["user"], features["movie"])
        return user_embeddings, movie_embeddings, rating

    def _penalty(
        self,
        features: dict[str, tf.Tensor],
        user_embeddings: tf.Tensor,
        movie_embeddings: tf.Tensor,
        batch_size: tf.Tensor,
        labelled: tf.Tensor,
    ) -> tf.Tensor:
        """Per-example L2 (Koren's SGD convention): each row's own parameters, this replica's share.

        Shared embeddings are averaged over the global batch (both tasks train them); the rating-only
        biases and factors over its labelled rows, on the scale of the rating loss they regularise.
        """
        o, penalty = self.options, tf.constant(0.0)
        if o.embedding_l2:
            squares = tf.reduce_sum(tf.square(user_embeddings)) + tf.reduce_sum(tf.square(movie_embeddings))
            penalty += o.embedding_l2 * tf.math.divide_no_nan(squares, batch_size)
        learned_biases = o.biases and o.fixed_biases is None
        if o.rating_l2 and (learned_biases or o.rating_factors) and self.rating_weight > 0:
            users, movies = features["user"], features["movie"]
            rating_params = []
            if learned_biases:
                rating_params += [self.user_bias(users), self.movie_bias(movies)]
            if o.rating_factors:
                rating_params += [self.user_factors(users), self.movie_factors(movies)]
            squares = tf.add_n([tf.reduce_sum(tf.square(p), axis=1) for p in rating_params])  # [batch]
            mask = features.get("rating_mask", tf.ones_like(squares))
            penalty += o.rating_l2 * tf.math.divide_no_nan(tf.reduce_sum(mask * squares), labelled)
        return penalty

    def compute_loss(self, features: dict[str, tf.Tensor], training: bool = False) -> tf.Tensor:
        """This replica's share of the weighted loss of the global batch.

        Under a ``tf.distribute`` strategy every replica computes its share and the optimizer sums
        the replicas' gradients: the rating loss is this replica's squared errors over the *global*
        number of labelled rows (summed over the replicas: exact for uneven last batches), the
        retrieval loss is summed over this replica's queries scored against the global batch's
        candidates. With one replica both are the usual batch losses. The loss trackers get
        share x replicas, so they report global-batch values however many replicas.
        """
        # Each tower runs once per distinct id of the batch; rows gather their id's output. This, and
        # the grouped softmax below, rely on a tower's output depending on its id alone (embeddings,
        # history and side features are all per id); a per-row context feature would break both.
        users, user_index = tf.unique(features["user"])
        movies, movie_index = tf.unique(features["movie"])
        unique_user_embeddings, unique_movie_embeddings = self.user_tower(users), self.movie_tower(movies)
        user_embeddings = tf.gather(unique_user_embeddings, user_index)
        movie_embeddings = tf.gather(unique_movie_embeddings, movie_index)
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        batch_size = global_batch_size(tf.shape(user_embeddings)[0])
        mask = features.get("rating_mask", tf.ones_like(features["rating"]))
        labelled = global_batch_size(tf.reduce_sum(mask))  # summed over replicas, like the batch size
        # A task with weight 0 adds nothing to the gradients; skip it in training, but still
        # evaluate it, so every run reports every metric.
        total = tf.constant(0.0)
        if self.rating_weight > 0 or not training:
            predictions = self.predict_rating(
                user_embeddings, movie_embeddings, features["user"], features["movie"], training=training
            )
            squared_errors = self.rating_task(  # [batch]; a masked row (weight 0) adds nothing
                labels=features["rating"][:, None],
                predictions=predictions,
                sample_weight=mask,
                compute_metrics=not training,
            )
            rating_loss = tf.math.divide_no_nan(tf.reduce_sum(squared_errors), labelled)
            self.rating_loss_tracker.update_state(rating_loss * replicas)
            total += self.rating_weight * rating_loss
        retrieval_loss = None
        if self.retrieval_weight > 0 or not training:
            queries = user_embeddings / self.options.temperature
            if self.retrieval_candidates == "all":
                # [batch, num_movies] logits: affordable for a catalogue of thousands of movies.
                logits = tf.matmul(
                    queries, self.movie_tower(tf.range(1, self.num_movies + 1)), transpose_b=True
                )
                retrieval_loss = tf.reduce_sum(
                    tf.nn.sparse_softmax_cross_entropy_with_logits(
                        labels=features["movie"] - 1, logits=logits
                    )
                )
            elif replicas == 1:
                # Same value and gradients as TFRS's task loss (tested), from the distinct users and movies.
                log_q = None if self.movie_log_q is None else tf.gather(self.movie_log_q, movies)
                retrieval_loss = grouped_in_batch_softmax_loss(
                    unique_user_embeddings / self.options.temperature,
                    user_index,
                    unique_movie_embeddings,
                    movie_index,
                    log_q,
                    num_ids=(self.user_embedding.input_dim, self.movie_embedding.input_dim),
                )
            else:
                # Same value and gradients as TFRS's task loss (tested), without [batch, batch] tensors.
                log_q = None if self.movie_log_q is None else tf.gather(self.movie_log_q, features["movie"])
                retrieval_loss = global_in_batch_softmax_loss(queries, movie_embeddings, log_q)
        if not training:
            queries = self.score_queries(user_embeddings)
            positives = self.score_candidates(movie_embeddings, features["movie"])
            for metric in self.retrieval_task.factorized_metrics:
                metric.update_state(queries, positives)
        if retrieval_loss is not None:
            if self.retrieval_reduction == "mean":
                retrieval_loss = tf.math.divide_no_nan(retrieval_loss, batch_size)
            self.retrieval_loss_tracker.update_state(retrieval_loss * replicas)
            total += self.retrieval_weight * retrieval_loss
        if training:
            total += self._penalty(features, user_embeddings, movie_embeddings, batch_size, labelled)
        self.loss_tracker.update_state(total * replicas)
        return total
