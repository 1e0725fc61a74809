"""A run's data as MLflow dataset inputs: what the UI's Dataset column and ``search_runs`` see.

Each split a run uses is logged as one MLflow dataset input, with a context (``training``,
``validation``, ``test``), so ``mlflow.search_runs(filter_string="dataset.name =
'movielens_100k-train' and dataset.context = 'training'")`` finds the runs that trained on it and
``dataset.digest = '...'`` the runs on exactly the same rows. The entity is written directly
(name, digest, source, schema, profile) rather than through ``mlflow.data.from_pandas``, which
would build a DataFrame and scan every value of it to infer a digest and schema.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import mlflow
import numpy as np
from mlflow.entities import Dataset, DatasetInput, InputTag

from mtrec.tracking.store import retry_locked

CONTEXT_TAG = "mlflow.data.context"  # MLflow's own key: the UI shows it beside the dataset
# MLflow's types for a column spec (mlflow.types.DataType), by numpy kind and size.
# How often a dataset input is logged again after another run inserted the same dataset first
# (once is enough for two runs; each retry finds every dataset inserted before it).
DUPLICATE_DATASET_RETRIES = 3
COLUMN_TYPES = {
    ("i", 4): "integer",
    ("i", 8): "long",
    ("f", 4): "float",
    ("f", 8): "double",
    ("b", 1): "boolean",
}


@dataclass(frozen=True)
class SplitInput:
    """One split of a run's data, as an MLflow dataset input.

    Attributes:
      name: the dataset's name in MLflow, e.g. ``movielens_100k-train``.
      context: ``training``, ``validation`` or ``test``.
      columns: [n] arrays, one per column (e.g. user index, movie index, rating, timestamp).
      source: where the rows come from: a local folder (MLflow source type ``local``), else a
        description such as ``tfds:movielens/100k`` (source type ``code``, as a tag).
      is_path: whether ``source`` is a local folder.
      digest_extra: what else the rows' meaning depends on (the vocabularies the indices point
        into); hashed into the digest, not logged.
      profile: counts shown with the dataset; ``num_rows`` is added.
    """

    name: str
    context: str
    columns: Mapping[str, np.ndarray]
    source: str
    is_path: bool = False
    digest_extra: Sequence[np.ndarray] = ()
    profile: Mapping[str, int] = field(default_factory=dict)

    @property
    def num_rows(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0


def digest(arrays: Iterable[np.ndarray]) -> str:
    """An 8-hex-digit hash of the arrays' full contents (MLflow's digests are 8 digits too)."""
    h = hashlib.sha256()
    for array in arrays:
        array = np.asarray(array)
        if array.dtype.kind in "OUS":  # strings: their text, separated
            h.update("\0".join(map(str, array.tolist())).encode())
        else:
            h.update(str(array.dtype).encode())
            h.update(np.ascontiguousarray(array).tobytes())
        h.update(b"\1")
    return h.hexdigest()[:8]


def _schema(columns: Mapping[str, np.ndarray]) -> str:
    specs = [
        {"type": COLUMN_TYPES.get((a.dtype.kind, a.dtype.itemsize), "string"), "name": name, "required": True}
        for name, a in columns.items()
    ]
    return json.dumps({"mlflow_colspec": specs})


def to_entity(split: SplitInput) -> DatasetInput:
    """The MLflow dataset input of a split."""
    if split.is_path:
        source_type, source = "local", json.dumps({"uri": split.source})
    else:
        source_type, source = "code", json.dumps({"tags": {"mtrec.source": split.source}})
    dataset = Dataset(
        name=split.name,
        digest=digest([*split.columns.values(), *split.digest_extra]),
        source_type=source_type,
        source=source,
        schema=_schema(split.columns),
        profile=json.dumps({"num_rows": split.num_rows, **split.profile}),
    )
    return DatasetInput(dataset, tags=[InputTag(CONTEXT_TAG, split.context)])


def is_duplicate_dataset_error(error: BaseException) -> bool:
    """Whether an MLflow call failed because another run inserted the same dataset first.

    MLflow's SQL store logs an input by looking its dataset up by (experiment, name, digest) and
    inserting it when missing; two jobs of a parallel sweep starting on the same split can both
    miss it, and the second insert breaks the unique key (SQLite: ``UNIQUE constraint failed:
    datasets...``, PostgreSQL: ``duplicate key value violates unique constraint ...datasets``;
    a server passes the same text on). The transaction was rolled back, so the call can be
    repeated, and then it finds the dataset.
    """
    seen: BaseException | None = error
    while seen is not None:
        text = str(seen)
        if "UNIQUE constraint failed: datasets." in text or (
            "duplicate key value violates unique constraint" in text and "datasets" in text
        ):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def log_datasets(run_id: str, splits: Sequence[SplitInput]) -> None:
    """Logs the splits as the run's dataset inputs, in one call.

    A duplicate-dataset error (see :func:`is_duplicate_dataset_error`) is retried: a few times,
    as each retry finds the datasets the other run inserted.
    """
    inputs = [to_entity(split) for split in splits]
    log_inputs = mlflow.MlflowClient().log_inputs
    for attempt in range(DUPLICATE_DATASET_RETRIES + 1):
        try:
            retry_locked(log_inputs, run_id, datasets=inputs)
            return
        except Exception as e:
            if not is_duplicate_dataset_error(e) or attempt == DUPLICATE_DATASET_RETRIES:
                raise
