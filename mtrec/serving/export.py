"""Export a trained model as a TensorFlow SavedModel that takes raw string ids, and load it back.

Loading an export needs TensorFlow only (no TFRS, no Keras, no Hydra), so a fresh process, an
MLflow pyfunc server (``mtrec.pyfunc``) or TensorFlow Serving can answer from the folder alone.

An export folder::

    saved_model/        the SavedModel: signatures below; vocabularies, known ids, seen movies inside
    mtrec_model.json    format version, sizes and a signature summary, for humans and for checks

Serving signatures (batched; ``k`` and ``exclude_seen`` are scalars):

* ``predict``: ``user_id`` [n] string, ``movie_title`` [n] string -> one [n] float32 output per
  regression or binary task, named by the task (the tutorial's: ``rating``; a binary task's is a
  probability), ``user_known`` [n] bool, ``movie_known`` [n] bool.
* ``recommend``: ``user_id`` [n] string, ``k`` int32, ``exclude_seen`` bool ->
  ``titles`` [n, k] string and ``scores`` [n, k] float32, best first; ``user_known`` [n] bool.

An id is *known* when it appears in the run's training rows. Any other id (outside the vocabulary,
or inside it but never trained) gets a cold-start answer from the mean trained user (or movie)
embedding, never from the out-of-vocabulary bucket's untrained row; callers read the ``*_known``
flags and refuse unknown ids unless cold-start answers were asked for (:func:`check_known`).

Top-K scores every movie by brute force against the same candidate embeddings that evaluation's
top-K accuracy uses. With ``exclude_seen`` a user's training movies are dropped first; when fewer
than ``k`` movies remain, a row is padded with title ``""`` and score ``-inf``.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

import mtrec
from mtrec.data.interactions import Interactions, movies_by_user
from mtrec.model.multitask import MultitaskModel
from mtrec.model.tasks.binary import BinaryTask
from mtrec.model.tasks.regression import RegressionTask
from mtrec.serving.layout import FORMAT_VERSION, METADATA_FILE, SAVED_MODEL_DIR

PREDICT_INPUTS = [
    tf.TensorSpec([None], tf.string, name="user_id"),
    tf.TensorSpec([None], tf.string, name="movie_title"),
]
RECOMMEND_INPUTS = [
    tf.TensorSpec([None], tf.string, name="user_id"),
    tf.TensorSpec([], tf.int32, name="k"),
    tf.TensorSpec([], tf.bool, name="exclude_seen"),
]


class ServingModule(tf.Module):
    """The trained towers and tasks' heads behind string-id signatures, with a brute-force index."""

    def __init__(self, model: MultitaskModel, train: Interactions) -> None:
        """Snapshots a trained model for serving.

        Only tensors are kept, not the Keras model: the lookups become hash tables, the towers
        their output for every id, the task heads their variables. Saving then skips Keras's own
        serialization of every layer (seconds per export).

        Args:
          model: the trained model (its embedding tables built).
          train: the rows it was trained on: they define the known ids and each user's seen movies.
        """
        super().__init__(name="mtrec_serving")
        num_users, num_movies = train.num_users, train.num_movies
        self.num_movies = num_movies
        # Index i + 1 for vocabulary entry i, 0 (out of vocabulary) for anything else: the model's
        # StringLookup layers, as tables.
        self.user_lookup = _lookup_table(train.user_vocab)
        self.movie_lookup = _lookup_table(train.movie_vocab)
        # Each regression and binary task's head (and biases/factors when configured), called
        # through the task's own method; its weights tracked here as variables only. One closure:
        # a dict of methods would become a tracked data structure of the module.
        self._predict_heads = _heads_predictor(model)
        self.head_variables = _head_weights(model)

        self._user_counts = np.bincount(train.user, minlength=num_users + 1)
        self._movie_counts = np.bincount(train.movie, minlength=num_movies + 1)
        self._user_counts[0] = self._movie_counts[0] = 0  # The out-of-vocabulary bucket is never known.
        self.user_known = _constant(self._user_counts > 0)
        self.movie_known = _constant(self._movie_counts > 0)
        for name, value in self._weights_of(model).items():
            setattr(self, name, _constant(value))
        # Row i is index i of the lookups; row 0 (out of vocabulary) is "".
        self.user_ids = _constant(np.concatenate([[""], train.user_vocab]).astype(str))
        self.movie_titles = _constant(np.concatenate([[""], train.movie_vocab]).astype(str))

        # Each user's distinct training movies: a ragged [num_users + 1, None] table, row 0 empty.
        seen_movies, seen_row_splits = movies_by_user(train)
        self.seen_movies = _constant(seen_movies.astype(np.int32))
        self.seen_row_splits = _constant(seen_row_splits)

    def _weights_of(self, model: MultitaskModel) -> dict[str, np.ndarray]:
        """The module's variables that depend on the model's weights (not on its training rows)."""
        all_users = model.towers.user(tf.range(len(self._user_counts))).numpy()
        all_movies = model.towers.movie(tf.range(len(self._movie_counts))).numpy()
        score_bias = model.retrieval.movie_score_bias
        return {
            "user_embeddings": all_users,
            "movie_embeddings": all_movies,
            "movie_score_bias": np.zeros(len(all_movies), np.float32)
            if score_bias is None
            else score_bias.numpy(),
            "cold_user": _mean_trained_row(all_users, self._user_counts),
            "cold_movie": _mean_trained_row(all_movies, self._movie_counts),
        }

    def load_weights(self, model: MultitaskModel) -> bool:
        """Assigns another model's weights to this module's variables, task heads included.

        The traced signatures then answer for that model. Returns False, changing nothing, when a
        weight's shape or dtype differs; the caller must make sure nothing else that shapes the
        graph differs (see :func:`export_model`'s ``graph_key``). The heads' variables are
        those of the model this module was built from: they are overwritten.
        """
        heads = _head_weights(model)
        pairs = list(zip(self.head_variables, heads))
        weights = self._weights_of(model)
        pairs += [(getattr(self, name), value) for name, value in weights.items()]
        if len(self.head_variables) != len(heads) or any(
            tuple(mine.shape) != tuple(theirs.shape) or mine.dtype != tf.as_dtype(theirs.dtype)
            for mine, theirs in pairs
        ):
            return False
        for mine, theirs in pairs:
            mine.assign(theirs)
        return True

    def _embed(
        self,
        ids: tf.Tensor,
        lookup: Any,
        embeddings: tf.Variable,
        known_table: tf.Variable,
        cold: tf.Variable,
    ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """[n] strings -> [n] indices, [n, dim] embeddings (cold-start rows for unknown ids), [n] known."""
        index = lookup.lookup(ids)
        known = tf.gather(known_table, index)
        return index, tf.where(known[:, None], tf.gather(embeddings, index), cold[None, :]), known

    def predict(self, user_id: tf.Tensor, movie_title: tf.Tensor) -> dict[str, tf.Tensor]:
        """Each regression and binary task's prediction for [n] (user id, movie title) pairs."""
        user_index, users, user_known = self._embed(
            user_id, self.user_lookup, self.user_embeddings, self.user_known, self.cold_user
        )
        movie_index, movies, movie_known = self._embed(
            movie_title, self.movie_lookup, self.movie_embeddings, self.movie_known, self.cold_movie
        )
        # Unknown ids use the out-of-vocabulary row 0 of any bias or factor table (bias 0).
        user_index = tf.where(user_known, user_index, 0)
        movie_index = tf.where(movie_known, movie_index, 0)
        outputs = self._predict_heads(users, movies, user_index, movie_index)
        return {**outputs, "user_known": user_known, "movie_known": movie_known}

    def recommend(self, user_id: tf.Tensor, k: tf.Tensor, exclude_seen: tf.Tensor) -> dict[str, tf.Tensor]:
        """The ``k`` best-scoring movies for each of [n] user ids."""
        index, users, user_known = self._embed(
            user_id, self.user_lookup, self.user_embeddings, self.user_known, self.cold_user
        )
        k = tf.clip_by_value(k, 1, self.num_movies)
        seen = tf.gather(tf.RaggedTensor.from_row_splits(self.seen_movies, self.seen_row_splits), index)
        # Over-fetch by the most movies any of these users has seen, so k remain after removing them.
        most_seen = tf.cast(tf.reduce_max(tf.concat([seen.row_lengths(), [0]], axis=0)), tf.int32)
        fetch = tf.minimum(k + tf.where(exclude_seen, most_seen, 0), self.num_movies)
        # Brute force over every movie (row 0, out of vocabulary, excluded): ids are 1-based indices.
        scores = tf.matmul(users, self.movie_embeddings[1:], transpose_b=True) + self.movie_score_bias[1:]
        scores, ids = tf.math.top_k(scores, k=fetch)
        ids += 1
        is_seen = tf.logical_and(exclude_seen, _is_member(ids, seen, self.num_movies))
        scores = tf.where(is_seen, tf.constant(-np.inf, tf.float32), scores)
        scores, order = tf.math.top_k(scores, k=k)  # Stable: unseen movies keep the index's order.
        padding = tf.gather(is_seen, order, batch_dims=1)  # Seen movies that still made the top k.
        ids = tf.where(padding, 0, tf.gather(ids, order, batch_dims=1))
        return {"titles": tf.gather(self.movie_titles, ids), "scores": scores, "user_known": user_known}


def _predicting_tasks(model: MultitaskModel) -> list[RegressionTask | BinaryTask]:
    """The tasks ``predict`` answers, in the model's order."""
    return [task for task in model.tasks if isinstance(task, (RegressionTask, BinaryTask))]


def _heads_predictor(model: MultitaskModel) -> Any:
    """(users, movies, user index, movie index) -> {task name: [n] predictions} of every head,
    each reading its MMoE mixture when the model has one (the experts run once for all heads)."""
    heads = [(task.name, task.predict) for task in _predicting_tasks(model)]
    mmoe = model.mmoe

    def predict(
        users: tf.Tensor, movies: tf.Tensor, user_index: tf.Tensor, movie_index: tf.Tensor
    ) -> dict[str, tf.Tensor]:
        mixtures = {} if mmoe is None else mmoe(users, movies)
        return {
            name: head(users, movies, user_index, movie_index, mixture=mixtures.get(name))[:, 0]
            for name, head in heads
        }

    return predict


def _head_weights(model: MultitaskModel) -> list[tf.Variable]:
    """Every variable the heads read besides the embeddings: the MMoE's (when the model has one),
    then each task's head's."""
    shared = [] if model.mmoe is None else list(model.mmoe.weights)
    return shared + [w for task in _predicting_tasks(model) for w in task.head_weights()]


def _lookup_table(vocab: np.ndarray) -> tf.lookup.StaticHashTable:
    """String id -> int32 index: ``vocab[i]`` -> i + 1, anything else -> 0."""
    keys = tf.constant(np.asarray(vocab).astype(str))
    values = tf.range(1, len(vocab) + 1, dtype=tf.int32)
    return tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(keys, values), default_value=0)


def _constant(value: np.ndarray) -> tf.Variable:
    """A non-trainable variable: saved with the module, unlike a Python attribute."""
    return tf.Variable(value, trainable=False)


def _mean_trained_row(table: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """[dim] mean of the rows of a [rows, dim] table whose count is > 0 (zeros if there are none)."""
    trained = counts > 0
    return table[trained].mean(axis=0) if trained.any() else np.zeros(table.shape[1], table.dtype)


def _is_member(ids: tf.Tensor, seen: tf.RaggedTensor, num_movies: int) -> tf.Tensor:
    """[n, m] bool: whether ``ids[i, j]`` is in ``seen[i]`` (1-based movie indices, [n, None])."""
    rows = tf.cast(seen.value_rowids(), tf.int32)
    mask = tf.scatter_nd(
        tf.stack([rows, seen.flat_values], axis=1),
        tf.ones_like(rows),
        shape=tf.stack([tf.shape(ids)[0], num_movies + 1]),
    )
    return tf.gather(mask, ids, batch_dims=1) > 0


@dataclass
class _Graph:
    """A written export's graph, kept to be written again with another model's weights."""

    key: Hashable
    train: Interactions  # Held, so that `is` means the same rows (a live object's id is not reused).
    module: ServingModule
    checkpoint: tf.train.Checkpoint
    files: dict[str, bytes]  # Everything of the SavedModel but its variables and fingerprint.


class GraphCache:
    """The last serving graph a process exported, kept to be written again with other weights.

    One is owned by the process's state (``mtrec.app.process``), which lives as long as the
    process: it holds one model's serving module and the SavedModel's graph files (~1 MB).
    """

    def __init__(self) -> None:
        self.last: _Graph | None = None


def export_model(
    model: MultitaskModel,
    train: Interactions,
    export_dir: Path,
    cache: GraphCache | None = None,
    graph_key: Hashable | None = None,
) -> Path:
    """Writes a trained model as a string-id SavedModel plus ``mtrec_model.json``.

    Args:
      model: the trained model.
      train: its training rows (``split.train``): known ids and each user's seen movies.
      export_dir: the folder to write; replaced when it exists.
      cache: where the previous export's graph is kept; None: nothing is kept.
      graph_key: a value that changes whenever anything that shapes the serving graph does, other
        than ``train`` and the weights' shapes (which are checked): the model's config. When it
        and ``train`` (the same object) are those of the cache's previous export, that export's
        traced graph is written again with this model's weights (measured: 0.05-0.1 s, where
        tracing and saving a new one is 0.5-0.9 s); the SavedModel answers exactly as a new one
        would. The previous model's task heads then holds this one's weights: pass a key only for
        models that are done with, as the app's jobs do. ``None``: always a new graph.

    Returns:
      ``export_dir``.
    """
    if export_dir.exists():
        shutil.rmtree(export_dir)
    export_dir.mkdir(parents=True)
    saved_model_dir = export_dir / SAVED_MODEL_DIR
    last = None if cache is None else cache.last
    if (
        graph_key is not None
        and last is not None
        and last.key == graph_key
        and last.train is train
        and last.module.load_weights(model)
    ):
        module = last.module
        _write_again(last, saved_model_dir)
    else:
        if cache is not None:
            cache.last = None  # Holds the previous model; let it go before building the next graph.
        module = ServingModule(model, train)
        _save(module, saved_model_dir)
        if cache is not None and graph_key is not None:
            files = {
                str(path.relative_to(saved_model_dir)): path.read_bytes()
                for path in saved_model_dir.rglob("*")
                if path.is_file() and path.parent.name != "variables" and path.name != "fingerprint.pb"
            }
            cache.last = _Graph(graph_key, train, module, tf.train.Checkpoint(root=module), files)
    metadata = {
        "format_version": FORMAT_VERSION,
        "mtrec_version": mtrec.__version__,
        "num_users": train.num_users,
        "num_movies": train.num_movies,
        "num_known_users": int(np.count_nonzero(module.user_known.numpy())),
        "num_known_movies": int(np.count_nonzero(module.movie_known.numpy())),
        "embedding_dim": model.towers.embedding_dim,
        # A known (user, movie) pair: MLflow's input example, and a first query for a human.
        "example": {
            "user_id": str(train.user_vocab[train.user[0] - 1]),
            "movie_title": str(train.movie_vocab[train.movie[0] - 1]),
        },
        # The tasks predict answers (regression: the label's scale; binary: a probability), and
        # the one mtrec-predict answers unless asked for another.
        "tasks": {task.name: _kind(task) for task in _predicting_tasks(model)},
        "default_task": model.predict_task.name,
        "signatures": {
            "predict": "user_id [n] string, movie_title [n] string -> "
            + ", ".join(f"{task.name} [n]" for task in _predicting_tasks(model))
            + ", user_known [n], movie_known [n]",
            "recommend": "user_id [n] string, k int32, exclude_seen bool -> titles [n, k], scores [n, k], "
            "user_known [n]",
        },
    }
    (export_dir / METADATA_FILE).write_text(json.dumps(metadata, indent=2) + "\n")
    return export_dir


def _kind(task: RegressionTask | BinaryTask) -> str:
    return "binary" if isinstance(task, BinaryTask) else "regression"


def _save(module: ServingModule, saved_model_dir: Path) -> None:
    """Traces the module's two signatures and saves it as a new SavedModel."""
    # Traced once, as signatures only: a tf.function attribute of the module would be traced again
    # by the save (0.3-0.5 s an export). No Python control flow depends on tensors: no autograph.
    signatures = {
        "predict": tf.function(module.predict, input_signature=PREDICT_INPUTS, autograph=False),
        "recommend": tf.function(module.recommend, input_signature=RECOMMEND_INPUTS, autograph=False),
    }
    signatures = {name: function.get_concrete_function() for name, function in signatures.items()}
    # Saving logs each captured input it renames and the assets folder at INFO: noise in a run's log.
    loggers = [logging.getLogger(name) for name in ("absl", "tensorflow")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        tf.saved_model.save(module, str(saved_model_dir), signatures=signatures)
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def _write_again(graph: _Graph, saved_model_dir: Path) -> None:
    """Writes a kept graph with the module's current weights: the same files ``tf.saved_model.save``
    writes. The variables are checkpointed from the module as root, under the keys the graph's
    restore op and ``tf.saved_model.load`` read; the fingerprint is computed from the new files."""
    for name, content in graph.files.items():
        (saved_model_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (saved_model_dir / name).write_bytes(content)
    (saved_model_dir / "assets").mkdir(exist_ok=True)
    graph.checkpoint.write(str(saved_model_dir / "variables" / "variables"))
    _write_fingerprint(saved_model_dir)


def _write_fingerprint(saved_model_dir: Path) -> None:
    """Writes ``fingerprint.pb`` for a SavedModel folder's current files.

    The one private TensorFlow API mtrec uses: ``fingerprinting_utils.write_fingerprint`` is what
    ``tf.saved_model.save`` calls, and TensorFlow has no public function for it (checked with
    TensorFlow 2.21). ``tf.saved_model.load`` reads the fingerprint, so it must match the files.
    """
    from tensorflow.python.saved_model import fingerprinting_utils

    fingerprinting_utils.write_fingerprint(str(saved_model_dir))
