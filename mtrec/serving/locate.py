"""Where a logged mtrec model's export folder is: MLflow's model, downloaded when its store is
remote, checked to be mtrec's. Imports MLflow, not TensorFlow."""

from __future__ import annotations

import warnings
from pathlib import Path

import mlflow
from mlflow.models import Model

from mtrec.serving.layout import EXPORT_ARTIFACT, METADATA_FILE, requirements


class NotMtrecModelError(ValueError):
    """An MLflow model that :func:`mtrec.serving.pyfunc.log_model` did not log."""


def logged_export(uri: str) -> Path:
    """The export folder inside the MLflow model at ``uri`` (``models:/m-...``, ``runs:/ID/model``,
    a folder): the store's own folder for a local store, a download for a remote one.

    ``mlflow.pyfunc.load_model`` first checks the model's pip requirements against every installed
    distribution, which maps them all to their modules (0.8 s of a predict command's 3-4 s after
    TensorFlow's import, measured 2026-12-03). The requirements ``log_model`` writes are the exact
    pins of :func:`mtrec.serving.layout.requirements`; this compares those directly and warns of a
    mismatch as MLflow does.

    Raises:
      NotMtrecModelError: for an MLflow model without mtrec's export artifact.
    """
    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri))
    flavor = Model.load(local).flavors.get("python_function", {})
    export = flavor.get("artifacts", {}).get(EXPORT_ARTIFACT, {}).get("path")
    if export is None or not (local / export / METADATA_FILE).is_file():
        raise NotMtrecModelError(f"{uri!r} is an MLflow model, but not one logged by mtrec")
    _warn_requirement_mismatches(local / "requirements.txt")
    return local / export


def _warn_requirement_mismatches(path: Path) -> None:
    if not path.is_file():
        return
    logged = {line.strip() for line in path.read_text().splitlines() if "==" in line}
    different = sorted(logged - set(requirements()))
    if different:
        warnings.warn(
            f"the model was logged with {', '.join(different)}; this environment has "
            f"{', '.join(sorted(set(requirements()) - logged))}",
            UserWarning,
            stacklevel=3,
        )
