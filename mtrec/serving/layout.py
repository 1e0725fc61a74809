"""The names an export and its MLflow model are found by, and the pins it is loaded with.

Imports neither TensorFlow nor MLflow: a process that only needs to find a model (the predict
commands' lookup, :mod:`mtrec.app.model_lookup`) reads them without loading either.
"""

from __future__ import annotations

FORMAT_VERSION = 1
SAVED_MODEL_DIR = "saved_model"
METADATA_FILE = "mtrec_model.json"
"""An export folder holds ``SAVED_MODEL_DIR/`` and ``METADATA_FILE`` (``mtrec.serving.export``)."""

MODEL_NAME = "model"
"""Each run's MLflow model (``runs:/<run_id>/model``)."""
MODEL_URI_TAG = "mtrec.model_uri"
"""The run tag naming the run's logged model; best-run selection finds runs with a model by it."""
EXPORT_ARTIFACT = "export"
"""The MLflow model's artifact that is the export folder."""


def requirements() -> list[str]:
    """Pinned pip requirements to load an export: what this environment runs, no more."""
    from importlib.metadata import version

    return [f"{name}=={version(name)}" for name in ("tensorflow", "tf-keras", "mlflow", "pandas", "numpy")]
