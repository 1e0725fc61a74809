"""Train/validation/test splits of an interactions table, and the masking of task labels.

The test split is the tutorial's seeded 80/20 permutation, validation (optional) is carved out of
the training rows, and a fraction of a task's training labels may be masked (the transfer experiments).
"""

from __future__ import annotations

import zlib
from dataclasses import replace

import numpy as np

from mtrec.data.interactions import Interactions, Split


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


def mask_labels(data: Interactions, task: str, fraction: float, seed: int) -> Interactions:
    """Keeps ``task``'s label on exactly ``round(fraction * n)`` rows, sampled by ``seed``.

    Every row stays (the other tasks train on it); a masked row adds nothing to ``task``'s loss.
    Each task draws from its own stream of ``seed``; the ``rating`` task's is the one
    ``dataset.rating_fraction`` always drew, so earlier runs reproduce.
    """
    if fraction >= 1.0:
        return data
    stream = [seed, 2] if task == "rating" else [seed, 2, zlib.crc32(task.encode())]
    keep = np.zeros(len(data), dtype=bool)
    keep[np.random.default_rng(stream).permutation(len(data))[: int(round(len(data) * fraction))]] = True
    return replace(data, masks={**data.masks, task: keep})


def refit_split(split: Split) -> Split:
    """The split a refit trains on: training and validation rows together, the same test rows."""
    if split.val is None:
        return split
    return Split(train=split.train.concat(split.val), test=split.test)
