"""An export as an MLflow pyfunc model: ``mlflow.pyfunc.load_model(uri).predict(DataFrame)``.

A Python wrapper around the SavedModel (``mtrec.serving.loading``). MLflow's TensorFlow flavour can save a
``tf.Module`` too, but its pyfunc only calls the module on one numpy tensor, while an export has two
named signatures on string columns. Each run logs one MLflow model named ``model``
(``runs:/<run_id>/model``): its artifact ``export`` is the export folder and ``code/mtrec`` a copy
of the modules loading needs, so a process with TensorFlow, pandas and MLflow loads it without
mtrec installed. MLflow loads it by running ``pyfunc_entry.py`` ("models from code"), no pickle.

``predict`` takes a DataFrame with a ``user_id`` column (strings):

* with a ``movie_title`` column too, one predicted rating per row:
  ``user_id, movie_title, rating, user_known, movie_known``;
* without it, the top ``k`` movies of each user, one row per movie:
  ``user_id, rank, movie_title, score, user_known``.

Params: ``k`` (10), ``exclude_seen`` (false), ``allow_unknown`` (false). An id absent from the
run's training data raises ``UnknownIdError`` unless ``allow_unknown`` is true; then it gets the
cold-start answer and ``*_known`` is false.
"""

from __future__ import annotations

import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.models import Model, ModelSignature
from mlflow.pyfunc import PythonModel, PythonModelContext
from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema

from mtrec.serving import loading

MODEL_NAME = "model"
MODEL_URI_TAG = "mtrec.model_uri"
EXPORT_ARTIFACT = "export"
ENTRY_FILE = Path(__file__).with_name("pyfunc_entry.py")
# All that loading imports (no Hydra, TFRS or Keras), relative to the mtrec package: shipped in the
# model as its code/mtrec.
LOADING_MODULES = (
    "__init__.py",
    "tensorflow_import.py",
    "serving/__init__.py",
    "serving/loading.py",
    "serving/pyfunc.py",
)
PACKAGE_DIR = Path(__file__).resolve().parents[1]
DEFAULT_K = 10
PARAMS_FIX = "Set params allow_unknown=true for a cold-start answer."

SIGNATURE = ModelSignature(
    inputs=Schema([ColSpec("string", "user_id"), ColSpec("string", "movie_title", required=False)]),
    params=ParamSchema(
        [
            ParamSpec("k", "long", DEFAULT_K),
            ParamSpec("exclude_seen", "boolean", False),
            ParamSpec("allow_unknown", "boolean", False),
        ]
    ),
)


class MtrecPyfunc(PythonModel):
    """Predicted ratings, or top-K movies, from an mtrec export; a DataFrame in and out."""

    model: loading.LoadedModel

    def load_context(self, context: PythonModelContext) -> None:
        self.model = loading.load_export(Path(context.artifacts[EXPORT_ARTIFACT]))

    def predict(
        self, context: PythonModelContext, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        params = params or {}
        allow_unknown = bool(params.get("allow_unknown", False))
        if "movie_title" in model_input.columns:
            return self.ratings(model_input["user_id"], model_input["movie_title"], allow_unknown, PARAMS_FIX)
        return self.recommendations(
            model_input["user_id"],
            int(params.get("k", DEFAULT_K)),
            bool(params.get("exclude_seen", False)),
            allow_unknown,
            PARAMS_FIX,
        )

    def ratings(self, user_ids: Any, movie_titles: Any, allow_unknown: bool, fix: str) -> pd.DataFrame:
        """Every task's prediction for [n] (user, movie) pairs, one column per task (the
        tutorial's: ``rating``); ``fix`` ends the message for unknown ids."""
        users, movies = _strings(user_ids), _strings(movie_titles)
        out = self.model.predict(users, movies)
        if not allow_unknown:
            loading.check_known("user", users, out["user_known"], self.model, fix)
            loading.check_known("movie", movies, out["movie_known"], self.model, fix)
        tasks = {name: out[name] for name in self.model.tasks}
        return pd.DataFrame(
            {
                "user_id": users,
                "movie_title": movies,
                **tasks,
                "user_known": out["user_known"],
                "movie_known": out["movie_known"],
            }
        )

    def recommendations(
        self, user_ids: Any, k: int, exclude_seen: bool, allow_unknown: bool, fix: str
    ) -> pd.DataFrame:
        """The top ``k`` movies of [n] users, one row each, without ``-inf`` padding."""
        users = _strings(user_ids)
        out = self.model.recommend(users, k, exclude_seen)
        if not allow_unknown:
            loading.check_known("user", users, out["user_known"], self.model, fix)
        k = out["titles"].shape[1]
        frame = pd.DataFrame(
            {
                "user_id": np.repeat(users, k),
                "rank": np.tile(np.arange(1, k + 1), len(users)),
                "movie_title": out["titles"].ravel(),
                "score": out["scores"].ravel(),
                "user_known": np.repeat(out["user_known"], k),
            }
        )
        return frame[np.isfinite(frame["score"])].reset_index(drop=True)


class NotMtrecModelError(ValueError):
    """An MLflow model that :func:`log_model` did not log."""


def load_logged(uri: str) -> MtrecPyfunc:
    """A model :func:`log_model` logged, from its URI (``models:/m-...``, ``runs:/ID/model``, a
    folder), as ``mlflow.pyfunc.load_model(uri).unwrap_python_model()`` returns it, minus one cost.

    ``mlflow.pyfunc.load_model`` first checks the model's pip requirements against every installed
    distribution, which maps them all to their modules (0.8 s of a predict command's 3-4 s after
    TensorFlow's import, measured 2026-12-03). The requirements :func:`log_model` writes are the
    exact pins of :func:`mtrec.serving.loading.requirements`; this compares those directly and
    warns of a mismatch as MLflow does. The model folder is MLflow's own (downloaded for a remote
    store, the store's folder for a local one).

    Raises:
      NotMtrecModelError: for an MLflow model without mtrec's export artifact.
    """
    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri))
    flavor = Model.load(local).flavors.get("python_function", {})
    export = flavor.get("artifacts", {}).get(EXPORT_ARTIFACT, {}).get("path")
    if export is None or not (local / export / loading.METADATA_FILE).is_file():
        raise NotMtrecModelError(f"{uri!r} is an MLflow model, but not one logged by mtrec")
    _warn_requirement_mismatches(local / "requirements.txt")
    wrapped = MtrecPyfunc()
    wrapped.model = loading.load_export(local / export)
    return wrapped


def _warn_requirement_mismatches(path: Path) -> None:
    if not path.is_file():
        return
    logged = {line.strip() for line in path.read_text().splitlines() if "==" in line}
    different = sorted(logged - set(loading.requirements()))
    if different:
        warnings.warn(
            f"the model was logged with {', '.join(different)}; this environment has "
            f"{', '.join(sorted(set(loading.requirements()) - logged))}",
            UserWarning,
            stacklevel=3,
        )


def _strings(values: Any) -> np.ndarray:
    return np.asarray(values, dtype=object).astype(str)


def log_model(export_dir: Path) -> str:
    """Logs an export folder as the active run's MLflow model ``model``.

    Also tags the run ``mtrec.model_uri``, which is how best-run selection finds runs with a model.

    Args:
      export_dir: a folder written by ``mtrec.serving.export.export_model``.

    Returns:
      The logged model's URI (``models:/m-...``; ``runs:/<run_id>/model`` names it too).

    Raises:
      RuntimeError: when no MLflow run is active.
    """
    if mlflow.active_run() is None:
        raise RuntimeError("pyfunc.log_model needs an active MLflow run; call it inside mlflow.start_run()")
    loading.read_metadata(export_dir)  # Refuses a folder that is not an export.
    # No input example: MLflow would check it by loading the model back (0.5 s a run, measured).
    # The signature gives the UI the schema, and mtrec_model.json holds a known (user, movie) pair.
    with tempfile.TemporaryDirectory() as code_dir, warnings.catch_warnings():
        # MLflow warns about the missing example on every run; it is missing on purpose (above).
        warnings.filterwarnings("ignore", message=".*An input example was not provided", category=UserWarning)
        info = mlflow.pyfunc.log_model(
            name=MODEL_NAME,
            python_model=str(ENTRY_FILE),
            artifacts={EXPORT_ARTIFACT: str(export_dir)},
            code_paths=[str(_copy_loading_code(Path(code_dir)))],
            signature=SIGNATURE,
            pip_requirements=loading.requirements(),
        )
    mlflow.set_tag(MODEL_URI_TAG, info.model_uri)
    return info.model_uri


def _copy_loading_code(folder: Path) -> Path:
    """Copies the part of mtrec that loading needs into ``folder/mtrec``; returns that package."""
    package = folder / "mtrec"
    for name in LOADING_MODULES:
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(PACKAGE_DIR / name, package / name)
    return package
