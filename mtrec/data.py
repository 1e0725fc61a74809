"""A dataset config -> a validated train/validation/test split, prepared once per process.

The rows come from :mod:`mtrec.sources`; the test split is the tutorial's seeded 80/20
permutation, validation (optional) is carved out of the training rows, and a fraction of the
training ratings may be masked (the transfer experiment). A process parses, builds vocabularies
and splits a dataset once: a multirun whose jobs share a process (the basic launcher's, or a
joblib or Ray worker's) reuses the cached table (see :func:`load_split` and :func:`cache_stats`).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from mtrec.config import Config, DatasetConfig, validate, validate_against_data
from mtrec.interactions import Interactions, Split
from mtrec.sources import load_interactions


def random_split(data: Interactions, test_fraction: float, seed: int) -> Split:
    """The tutorial's split: shuffle every row with ``seed``, the first (1 - f) train the model."""
    order = np.random.default_rng(seed).permutation(len(data))
    num_train = int(round(len(data) * (1.0 - test_fraction)))
    return Split(train=data.take(order[:num_train]), test=data.take(order[num_train:]))


def carve_validation(split: Split, val_fraction: float, seed: int) -> Split:
    """Moves a random ``val_fraction`` of the training rows into ``val``; test is untouched."""
    if val_fraction <= 0:
        return split
    order = np.random.default_rng([seed, 1]).permutation(len(split.train))
    num_val = int(round(len(order) * val_fraction))
    return Split(
        train=split.train.take(order[num_val:]), test=split.test, val=split.train.take(order[:num_val])
    )


def mask_ratings(data: Interactions, rating_fraction: float, seed: int) -> Interactions:
    """Keeps the rating label of exactly ``round(rating_fraction * n)`` rows, sampled by ``seed``.

    Every row stays (retrieval trains on all of them); a masked row adds no rating loss.
    """
    if rating_fraction >= 1.0:
        return data
    keep = np.zeros(len(data), dtype=bool)
    keep[
        np.random.default_rng([seed, 2]).permutation(len(data))[: int(round(len(data) * rating_fraction))]
    ] = True
    return replace(data, labeled=keep)


_SPLITS: dict[tuple, Split] = {}
_CACHE_STATS = {"loads": 0, "hits": 0}


def load_split(cfg: DatasetConfig) -> Split:
    """Loads and splits a dataset once per process for each distinct dataset config."""
    key = tuple((name, str(getattr(cfg, name))) for name in DatasetConfig.__dataclass_fields__)
    if key in _SPLITS:
        _CACHE_STATS["hits"] += 1
    else:
        data = load_interactions(cfg)
        _SPLITS[key] = random_split(data, cfg.test_fraction, cfg.split_seed)
        _CACHE_STATS["loads"] += 1
    return _SPLITS[key]


def cache_stats() -> dict[str, int]:
    """How often this process has loaded a split (``loads``) and reused a cached one (``hits``)."""
    return dict(_CACHE_STATS)


def prepare(cfg: Config) -> Split:
    """Validates the config, loads and splits the data, then checks what needs the data.

    Needs no TensorFlow (except for the TFDS source), so bad input fails before TF starts.

    Raises:
      ConfigError: a bad config value (named by its full key).
      DataError: unreadable data (named by file and line).
    """
    validate(cfg)
    split = load_split(cfg.dataset)
    # The rating mask is drawn over all training rows, so validation sees the same fraction of
    # labels as training: tuning never uses ratings that the experiment pretends are unknown.
    train = mask_ratings(split.train, cfg.dataset.rating_fraction, cfg.trainer.seed)
    split = carve_validation(Split(train, split.test), cfg.trainer.val_fraction, cfg.dataset.split_seed)
    train = split.train
    sides = tuple(side for side in ("movie", "user") if getattr(train, f"{side}_features") is not None)
    validate_against_data(cfg, train.num_movies, sides)
    return split
