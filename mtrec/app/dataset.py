"""A job's data: the config checked, the dataset loaded (once per process) and split.

Needs no TensorFlow (except for the TFDS source), so bad input fails before TF starts, and no
MLflow, so a multirun's data can load while MLflow imports (:mod:`mtrec.app.prefetch`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mtrec.app.process import ProcessState
from mtrec.config import Config, DatasetConfig, validate, validate_against_data
from mtrec.config.schema import CatalogConfig, get_key
from mtrec.data.catalog import Catalog
from mtrec.data.interactions import Interactions, Split
from mtrec.data.sources import load_interactions
from mtrec.data.splits import carve_validation, mask_labels, split_rows
from mtrec.data.table import TableSpec
from mtrec.tensorflow_import import import_tensorflow

if TYPE_CHECKING:
    from mtrec.tracking.datasets import SplitInput


def dataset_key(d: DatasetConfig) -> tuple:
    """Every field of the dataset config: two configs with equal keys give the same split."""
    return tuple((name, str(get_key(d, name))) for name in DatasetConfig.__dataclass_fields__)


def _catalog(c: CatalogConfig, key: str) -> Catalog | None:
    if c.path is None:
        return None
    return Catalog(
        path=c.path,
        id=c.id,
        categorical=tuple(c.categorical),
        multi_valued=tuple(c.multi_valued),
        numeric=tuple(c.numeric),
        separator=c.separator,
        key=key,
    )


def table_spec(d: DatasetConfig) -> TableSpec | None:
    """The table source's plain description (None unless ``dataset.kind=table``)."""
    if d.kind != "table" or d.path is None:
        return None
    c = d.columns
    return TableSpec(
        path=d.path,
        user=c.user,
        item=c.item,
        rating=c.rating,
        timestamp=c.timestamp,
        labels=tuple(c.labels),
        rating_range=None if c.rating_range is None else tuple(c.rating_range),
        label_ranges={name: tuple(bounds) for name, bounds in c.label_ranges.items()},
        duplicates=d.duplicates,
        file_format=d.format,
        encoding=d.encoding,
        items=_catalog(get_key(d, "items"), "dataset.items"),
        users=_catalog(get_key(d, "users"), "dataset.users"),
    )


def load_split(d: DatasetConfig, state: ProcessState, prefetch: bool = False) -> Split:
    """The dataset's train/test split, loaded and split once per process (``prefetch``: ahead of
    the jobs, :mod:`mtrec.app.prefetch`)."""

    def load() -> Split:
        if d.kind == "movielens" and not d.path:
            import_tensorflow()  # TFDS imports it: without its CPU start-up notices
        data = load_interactions(
            kind=d.kind,
            path=d.path,
            tfds_name=d.tfds_name,
            data_dir=d.data_dir,
            num_users=d.num_users,
            num_movies=d.num_movies,
            num_interactions=d.num_interactions,
            num_factors=d.num_factors,
            click_rate=d.click_rate,
            purchase_rate=d.purchase_rate,
            seed=d.split_seed,
            table=table_spec(d),
        )
        return split_rows(data, d.split, d.test_fraction, d.split_seed, d.leave_out)

    return state.split(dataset_key(d), load, prefetch)


def prepare(cfg: Config, state: ProcessState, prefetch: bool = False) -> Split:
    """Validates the config, loads and splits the data, then checks what needs the data
    (``prefetch``: ahead of the jobs, :mod:`mtrec.app.prefetch`).

    Raises:
      ConfigError: a bad config value (named by its full key).
      DataError: unreadable data (named by file and line).
    """
    validate(cfg)
    split = load_split(cfg.dataset, state, prefetch)
    train = split.train
    columns = {"rating": train.rating, **train.columns}
    sides = tuple(side for side in ("movie", "user") if getattr(train, f"{side}_features") is not None)
    validate_against_data(cfg, train.num_movies, sides, columns)
    # Label masks are drawn over all training rows, so validation sees the same fraction of labels
    # as training: tuning never uses labels that the experiment pretends are unknown.
    for name, task in cfg.tasks.items():
        train = mask_labels(train, name, task.label_fraction, cfg.trainer.seed)
    d = cfg.dataset
    return carve_validation(
        Split(train, split.test), cfg.trainer.val_fraction, d.split_seed, d.split, d.leave_out
    )


def source_of(d: DatasetConfig) -> tuple[str, bool]:
    """Where a dataset's rows come from, and whether that is a local folder."""
    if d.kind in ("synthetic", "funnel"):
        sizes = f"{d.num_users} users, {d.num_movies} movies, {d.num_interactions} interactions"
        rates = f", click rate {d.click_rate}, purchase rate {d.purchase_rate}" if d.kind == "funnel" else ""
        return f"{d.kind}: {sizes}, {d.num_factors} factors{rates}, seed {d.split_seed}", False
    if d.path:
        return str(Path(d.path).expanduser().resolve()), True
    return f"tfds:{d.tfds_name}", False


def split_inputs(d: DatasetConfig, split: Split) -> list[SplitInput]:
    """The splits a job trains, selects and tests on, as MLflow dataset inputs
    (``{name}-train``/``-validation``/``-test``, contexts ``training``/``validation``/``test``)."""
    from mtrec.tracking.datasets import SplitInput  # MLflow: loading the data does not need it

    source, is_path = source_of(d)

    def one(part: str, context: str, rows: Interactions) -> SplitInput:
        columns = {"user_index": rows.user, "movie_index": rows.movie, "rating": rows.rating}
        columns["timestamp"] = rows.timestamp
        columns.update(rows.columns)
        # Which labels each task may use (its mask), when it may not use them all.
        columns.update({f"{task}_known": mask for task, mask in rows.masks.items()})
        rated = int(rows.masks["rating"].sum()) if "rating" in rows.masks else len(rows)
        # Another task's labelled rows, when it may not use them all (num_purchase_known_rows).
        known = {f"num_{task}_known_rows": int(m.sum()) for task, m in rows.masks.items() if task != "rating"}
        return SplitInput(
            name=f"{d.name}-{part}",
            context=context,
            columns=columns,
            source=source,
            is_path=is_path,
            digest_extra=(rows.user_vocab, rows.movie_vocab),
            profile={
                "num_users": rows.num_users,
                "num_movies": rows.num_movies,
                "num_rated_rows": rated,
                **known,
            },
        )

    parts = [one("train", "training", split.train)]
    if split.val is not None:
        parts.append(one("validation", "validation", split.val))
    return [*parts, one("test", "test", split.test)]
