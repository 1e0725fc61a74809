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
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.pyfunc import PythonModel, PythonModelContext
from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema

from mtrec.serving import answers, loading
from mtrec.serving.layout import EXPORT_ARTIFACT, MODEL_NAME, MODEL_URI_TAG, requirements
from mtrec.serving.locate import logged_export

ENTRY_FILE = Path(__file__).with_name("pyfunc_entry.py")
# All that loading imports (no Hydra, TFRS or Keras), relative to the mtrec package: shipped in the
# model as its code/mtrec.
LOADING_MODULES = (
    "__init__.py",
    "tensorflow_import.py",
    "serving/__init__.py",
    "serving/answers.py",
    "serving/layout.py",
    "serving/loading.py",
    "serving/locate.py",
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
        """:func:`mtrec.serving.answers.ratings` of this model."""
        return answers.ratings(self.model, user_ids, movie_titles, allow_unknown, fix)

    def recommendations(
        self, user_ids: Any, k: int, exclude_seen: bool, allow_unknown: bool, fix: str
    ) -> pd.DataFrame:
        """:func:`mtrec.serving.answers.recommendations` of this model."""
        return answers.recommendations(self.model, user_ids, k, exclude_seen, allow_unknown, fix)


def load_logged(uri: str) -> MtrecPyfunc:
    """A model :func:`log_model` logged, from its URI (``models:/m-...``, ``runs:/ID/model``, a
    folder), as ``mlflow.pyfunc.load_model(uri).unwrap_python_model()`` returns it, without MLflow's
    requirement scan (:func:`mtrec.serving.locate.logged_export`).

    Raises:
      NotMtrecModelError: for an MLflow model without mtrec's export artifact.
    """
    wrapped = MtrecPyfunc()
    wrapped.model = loading.load_export(logged_export(uri))
    return wrapped


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
            pip_requirements=requirements(),
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
