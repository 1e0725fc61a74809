"""Loading an export back: numpy in, numpy out, around the SavedModel's two signatures.

Needs TensorFlow only (no TFRS, no Keras, no Hydra): a fresh process, an MLflow pyfunc server
(:mod:`mtrec.serving.pyfunc`) or TensorFlow Serving can answer from the folder alone. See
:mod:`mtrec.serving.export` for the folder's layout and the signatures.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mtrec.tensorflow_import import import_tensorflow

import_tensorflow()  # TensorFlow's CPU start-up notices left out of the predict commands' output.
import tensorflow as tf  # noqa: E402

from mtrec.serving.layout import FORMAT_VERSION, METADATA_FILE, SAVED_MODEL_DIR  # noqa: E402


class ExportError(ValueError):
    """A folder that is not a readable mtrec export; the message says what to do instead."""


class UnknownIdError(ValueError):
    """A user id or movie title absent from the run's training data."""


@dataclass
class LoadedModel:
    """An export loaded back: numpy in, numpy out, around the SavedModel's two signatures.

    Batches are answered in chunks, which bounds memory: ``recommend`` builds an
    [n, num_movies] seen-movie mask per call.
    """

    module: Any
    metadata: dict[str, Any]
    chunk_size: int = 1024

    def predict(self, user_ids: np.ndarray, movie_titles: np.ndarray) -> dict[str, np.ndarray]:
        """[n] user ids, [n] titles -> each of :attr:`tasks` (``rating`` for the tutorial's model),
        ``user_known``, ``movie_known``, each [n]."""
        return self._chunked(
            lambda a, b: self.module.signatures["predict"](
                user_id=tf.constant(a, tf.string), movie_title=tf.constant(b, tf.string)
            ),
            np.asarray(user_ids, dtype=str),
            np.asarray(movie_titles, dtype=str),
        )

    @property
    def tasks(self) -> dict[str, str]:
        """Task name -> kind (``regression``, ``binary``) of each output of ``predict``, in order."""
        return dict(self.metadata.get("tasks", {"rating": "regression"}))

    @property
    def default_task(self) -> str:
        """The task ``mtrec-predict`` answers unless ``--task`` names another."""
        return str(self.metadata.get("default_task", "rating"))

    def recommend(self, user_ids: np.ndarray, k: int, exclude_seen: bool = False) -> dict[str, np.ndarray]:
        """[n] user ids -> ``titles`` [n, k] str, ``scores`` [n, k], ``user_known`` [n]; see module doc."""
        out = self._chunked(
            lambda a: self.module.signatures["recommend"](
                user_id=tf.constant(a, tf.string),
                k=tf.constant(k, tf.int32),
                exclude_seen=tf.constant(exclude_seen),
            ),
            np.asarray(user_ids, dtype=str),
        )
        out["titles"] = np.char.decode(out["titles"].astype(bytes), "utf-8")
        return out

    def _chunked(self, call: Any, *columns: np.ndarray) -> dict[str, np.ndarray]:
        """Calls a signature on ``chunk_size`` rows at a time; concatenates its outputs."""
        parts = []
        for start in range(0, max(len(columns[0]), 1), self.chunk_size):
            out = call(*(column[start : start + self.chunk_size] for column in columns))
            parts.append({name: value.numpy() for name, value in out.items()})
        return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}

    def known_ids(self, kind: str) -> list[str]:
        """Every trained user id (``kind="user"``) or movie title (``kind="movie"``)."""
        ids, known = (
            (self.module.user_ids, self.module.user_known)
            if kind == "user"
            else (self.module.movie_titles, self.module.movie_known)
        )
        return [i.decode() for i in ids.numpy()[known.numpy()]]


def read_metadata(export_dir: Path) -> dict[str, Any]:
    """The ``mtrec_model.json`` of a folder written by :func:`export_model`.

    Raises:
      ExportError: when the folder is not an mtrec export, or one of another format version.
    """
    metadata_file = export_dir / METADATA_FILE
    if not metadata_file.is_file():
        raise ExportError(f"{export_dir}: no {METADATA_FILE}, so not an mtrec model export")
    metadata = json.loads(metadata_file.read_text())
    if metadata.get("format_version") != FORMAT_VERSION:
        raise ExportError(
            f"{export_dir}: export format {metadata.get('format_version')}, but this mtrec reads format "
            f"{FORMAT_VERSION}; load it with mtrec {metadata.get('mtrec_version')}, which wrote it"
        )
    return metadata


def load_export(export_dir: Path) -> LoadedModel:
    """Loads a folder written by :func:`export_model`.

    Raises:
      ExportError: when the folder is not an mtrec export, or one of another format version.
    """
    metadata = read_metadata(export_dir)
    return LoadedModel(tf.saved_model.load(str(export_dir / SAVED_MODEL_DIR)), metadata)


def check_known(kind: str, ids: np.ndarray, known: np.ndarray, model: LoadedModel, fix: str) -> None:
    """Refuses ids the model never trained on.

    Args:
      kind: ``"user"`` or ``"movie"``, for the message.
      ids: [n] the ids asked for.
      known: [n] the signature's ``*_known`` flags for them.
      model: the loaded export, to count known ids and suggest close titles.
      fix: a sentence saying how the caller asks for cold-start answers instead; ends the message.

    Raises:
      UnknownIdError: naming the first unknown id (and how many there are), a close match when one
        exists, and ``fix``.
    """
    if known.all():
        return
    unknown = list(dict.fromkeys(str(i) for i in ids[~known]))
    vocabulary = model.known_ids(kind)
    noun = "user id" if kind == "user" else "movie title"
    message = f"{noun} {unknown[0]!r} is not in the run's training data ({len(vocabulary)} known {kind}s)"
    if len(unknown) > 1:
        message += f", nor are {len(unknown) - 1} other {kind}s asked for"
    message += "."
    close = difflib.get_close_matches(unknown[0], vocabulary, n=1, cutoff=0.6) if kind == "movie" else []
    if close:
        message += f" Did you mean {close[0]!r}?"
    raise UnknownIdError(f"{message} {fix}")
