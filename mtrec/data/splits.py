"""Train/validation/test splits of an interactions table, and the masking of rating labels.

The test split is the tutorial's seeded 80/20 permutation, validation (optional) is carved out of
the training rows, and a fraction of the training ratings may be masked (the transfer experiment).
"""

from __future__ import annotations

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


def refit_split(split: Split) -> Split:
    """The split a refit trains on: training and validation rows together, the same test rows."""
    if split.val is None:
        return split
    return Split(train=split.train.concat(split.val), test=split.test)
