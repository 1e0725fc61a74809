"""A job's data: the config checked, the dataset loaded (once per process) and split.

Needs no TensorFlow (except for the TFDS source), so bad input fails before TF starts.
"""

from __future__ import annotations

from pathlib import Path

from mtrec.app.process import ProcessState
from mtrec.config import Config, DatasetConfig, validate, validate_against_data
from mtrec.data.interactions import Interactions, Split
from mtrec.data.sources import load_interactions
from mtrec.data.splits import carve_validation, mask_ratings, random_split
from mtrec.tracking.datasets import SplitInput


def dataset_key(d: DatasetConfig) -> tuple:
    """Every field of the dataset config: two configs with equal keys give the same split."""
    return tuple((name, str(getattr(d, name))) for name in DatasetConfig.__dataclass_fields__)


def load_split(d: DatasetConfig, state: ProcessState) -> Split:
    """The dataset's train/test split, loaded and split once per process."""

    def load() -> Split:
        data = load_interactions(
            kind=d.kind,
            path=d.path,
            tfds_name=d.tfds_name,
            data_dir=d.data_dir,
            num_users=d.num_users,
            num_movies=d.num_movies,
            num_interactions=d.num_interactions,
            num_factors=d.num_factors,
            seed=d.split_seed,
        )
        return random_split(data, d.test_fraction, d.split_seed)

    return state.split(dataset_key(d), load)


def prepare(cfg: Config, state: ProcessState) -> Split:
    """Validates the config, loads and splits the data, then checks what needs the data.

    Raises:
      ConfigError: a bad config value (named by its full key).
      DataError: unreadable data (named by file and line).
    """
    validate(cfg)
    split = load_split(cfg.dataset, state)
    # The rating mask is drawn over all training rows, so validation sees the same fraction of
    # labels as training: tuning never uses ratings that the experiment pretends are unknown.
    train = mask_ratings(split.train, cfg.dataset.rating_fraction, cfg.trainer.seed)
    split = carve_validation(Split(train, split.test), cfg.trainer.val_fraction, cfg.dataset.split_seed)
    train = split.train
    sides = tuple(side for side in ("movie", "user") if getattr(train, f"{side}_features") is not None)
    validate_against_data(cfg, train.num_movies, sides)
    return split


def source_of(d: DatasetConfig) -> tuple[str, bool]:
    """Where a dataset's rows come from, and whether that is a local folder."""
    if d.kind == "synthetic":
        sizes = f"{d.num_users} users, {d.num_movies} movies, {d.num_interactions} interactions"
        return f"synthetic: {sizes}, {d.num_factors} factors, seed {d.split_seed}", False
    if d.path:
        return str(Path(d.path).expanduser().resolve()), True
    return f"tfds:{d.tfds_name}", False


def split_inputs(d: DatasetConfig, split: Split) -> list[SplitInput]:
    """The splits a job trains, selects and tests on, as MLflow dataset inputs
    (``{name}-train``/``-validation``/``-test``, contexts ``training``/``validation``/``test``)."""
    source, is_path = source_of(d)

    def one(part: str, context: str, rows: Interactions) -> SplitInput:
        columns = {"user_index": rows.user, "movie_index": rows.movie, "rating": rows.rating}
        columns["timestamp"] = rows.timestamp
        if rows.labeled is not None:
            columns["rating_known"] = rows.labeled
        rated = int(rows.labeled.sum()) if rows.labeled is not None else len(rows)
        return SplitInput(
            name=f"{d.name}-{part}",
            context=context,
            columns=columns,
            source=source,
            is_path=is_path,
            digest_extra=(rows.user_vocab, rows.movie_vocab),
            profile={"num_users": rows.num_users, "num_movies": rows.num_movies, "num_rated_rows": rated},
        )

    parts = [one("train", "training", split.train)]
    if split.val is not None:
        parts.append(one("validation", "validation", split.val))
    return [*parts, one("test", "test", split.test)]
