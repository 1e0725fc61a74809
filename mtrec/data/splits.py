"""Train/validation/test splits of an interactions table, and the masking of task labels.

Three rules (:data:`SPLITS`): ``random``, the tutorial's seeded 80/20 permutation (the default);
``temporal``, a global cut in time (no test row is earlier than a training row); and
``leave_last_out``, each user's latest interaction(s) held out. Validation (optional) is carved
out of the training rows by the same rule, and a fraction of a task's training labels may be
masked (the transfer experiments).
"""

from __future__ import annotations

import zlib
from dataclasses import replace

import numpy as np

from mtrec.data.interactions import Interactions, Split

SPLITS = ("random", "temporal", "leave_last_out")


def random_split(data: Interactions, test_fraction: float, seed: int) -> Split:
    """The tutorial's split: shuffle every row with ``seed``, the first (1 - f) train the model."""
    order = np.random.default_rng(seed).permutation(len(data))
    num_train = int(round(len(data) * (1.0 - test_fraction)))
    return Split(train=data.take(order[:num_train]), test=data.take(order[num_train:]))


def temporal_split(data: Interactions, test_fraction: float) -> Split:
    """The latest ``test_fraction`` of the rows by timestamp are test, the others train.

    Rows are ordered by time, ties by row order, and cut there: no test row is earlier than a
    training row (rows of the very same time may fall on both sides of the cut). Each split keeps
    its rows in time order.
    """
    order = np.argsort(data.timestamp, kind="stable")
    num_train = int(round(len(data) * (1.0 - test_fraction)))
    return Split(train=data.take(order[:num_train]), test=data.take(order[num_train:]))


def latest_per_user(data: Interactions, count: int) -> np.ndarray:
    """[n] bool: each user's ``count`` latest rows (ties: the later row), for users with more than
    ``count`` rows; a user with fewer keeps every row out of it (and so in training).

    ``count`` passes of O(n) each (a per-user maximum by ``np.maximum.at``), no sort: 25M rows
    sorted by user and time took 24 s on this project's machine, one pass well under a second.
    """
    rows_of = np.bincount(data.user, minlength=data.num_users + 1)
    eligible = rows_of[data.user] > count
    held = np.zeros(len(data), dtype=bool)
    for _ in range(count):
        free = np.flatnonzero(eligible & ~held)
        latest = np.full(data.num_users + 1, np.iinfo(np.int64).min)
        np.maximum.at(latest, data.user[free], data.timestamp[free])
        at_latest = free[data.timestamp[free] == latest[data.user[free]]]
        last_row = np.full(data.num_users + 1, -1)
        np.maximum.at(last_row, data.user[at_latest], at_latest)  # ties: the later row
        held[last_row[last_row >= 0]] = True
    return held


def leave_last_out_split(data: Interactions, count: int = 1) -> Split:
    """Each user's ``count`` latest interactions are test (:func:`latest_per_user`)."""
    held = latest_per_user(data, count)
    return Split(train=data.take(np.flatnonzero(~held)), test=data.take(np.flatnonzero(held)))


def split_rows(data: Interactions, rule: str, test_fraction: float, seed: int, leave_out: int = 1) -> Split:
    """The train/test split of ``rule`` (one of :data:`SPLITS`).

    Args:
      data: the interactions.
      rule: ``random`` (seeded by ``seed``), ``temporal`` or ``leave_last_out``.
      test_fraction: the test share of ``random`` and ``temporal``.
      seed: the permutation's seed (``random``).
      leave_out: the rows held out per user (``leave_last_out``).
    """
    if rule == "random":
        return random_split(data, test_fraction, seed)
    if rule == "temporal":
        return temporal_split(data, test_fraction)
    if rule == "leave_last_out":
        return leave_last_out_split(data, leave_out)
    raise ValueError(f"unknown split rule {rule!r}; one of {SPLITS}")


def carve_validation(
    split: Split, val_fraction: float, seed: int, rule: str = "random", leave_out: int = 1
) -> Split:
    """Moves training rows into ``val`` by the split's rule; test is untouched.

    ``random``: a seeded ``val_fraction`` of the training rows; ``temporal``: the latest
    ``val_fraction`` of them; ``leave_last_out``: each user's ``leave_out`` latest remaining rows
    (``val_fraction`` only switches validation on).
    """
    if val_fraction <= 0:
        return split
    if rule != "random":
        inner = split_rows(split.train, rule, val_fraction, seed, leave_out)
        return Split(train=inner.train, test=split.test, val=inner.test)
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
