"""A job's data: the config checked, the dataset loaded (once per process) and split.

Needs no TensorFlow (except for the TFDS source), so bad input fails before TF starts.
"""

from __future__ import annotations

from mtrec.app.process import ProcessState
from mtrec.config import Config, DatasetConfig, validate, validate_against_data
from mtrec.data.interactions import Split
from mtrec.data.sources import load_interactions
from mtrec.data.splits import carve_validation, mask_labels, random_split


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
            click_rate=d.click_rate,
            purchase_rate=d.purchase_rate,
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
    train = split.train
    columns = {"rating": train.rating, **train.columns}
    sides = tuple(side for side in ("movie", "user") if getattr(train, f"{side}_features") is not None)
    validate_against_data(cfg, train.num_movies, sides, columns)
    # Label masks are drawn over all training rows, so validation sees the same fraction of labels
    # as training: tuning never uses labels that the experiment pretends are unknown.
    for name, task in cfg.tasks.items():
        train = mask_labels(train, name, task.label_fraction, cfg.trainer.seed)
    return carve_validation(Split(train, split.test), cfg.trainer.val_fraction, cfg.dataset.split_seed)
