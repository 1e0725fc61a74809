"""The split rules on hand-made tables: random (the tutorial's), temporal, leave-last-out."""

from __future__ import annotations

import numpy as np
import pytest

from mtrec.data import interactions, splits, synthetic
from mtrec.data.interactions import Interactions, Split


def _table(rows: list[tuple[str, str, int]]) -> Interactions:
    """(user, item, timestamp) rows; the rating is the row number, so rows can be told apart."""
    users, items, times = zip(*rows)
    return interactions.from_strings(
        np.array(users), np.array(items), np.arange(len(rows)), np.array(times), np.array([], dtype=str)
    )


ROWS = [
    ("ann", "a", 50), ("ann", "b", 10), ("ann", "c", 30),
    ("bob", "a", 20), ("bob", "d", 20), ("bob", "b", 5),
    ("cat", "c", 40),
    ("dan", "a", 1), ("dan", "e", 60), ("dan", "b", 60),
]  # fmt: skip


def _rows(d: Interactions) -> set[int]:
    return {int(r) for r in d.rating}


def test_random_rule_is_the_tutorial_split_bit_for_bit() -> None:
    d = synthetic.make_synthetic(50, 30, 1000, 4, seed=1)
    a, b = splits.split_rows(d, "random", 0.2, seed=42), splits.random_split(d, 0.2, seed=42)
    for field in ("user", "movie", "rating", "timestamp"):
        np.testing.assert_array_equal(getattr(a.train, field), getattr(b.train, field))
        np.testing.assert_array_equal(getattr(a.test, field), getattr(b.test, field))
    c = splits.carve_validation(a, 0.1, 42, rule="random")
    e = splits.carve_validation(b, 0.1, 42)
    assert c.val is not None and e.val is not None
    np.testing.assert_array_equal(c.val.rating, e.val.rating)


def test_temporal_no_test_row_is_earlier_than_a_training_row() -> None:
    d = _table(ROWS)
    s = splits.split_rows(d, "temporal", 0.3, seed=0)
    assert len(s.train) == 7 and len(s.test) == 3
    assert s.test.timestamp.min() >= s.train.timestamp.max()
    assert _rows(s.test) == {0, 8, 9}  # times 50, 60, 60
    # On 5,000 rows with many ties, every rule holds too.
    big = synthetic.make_synthetic(40, 20, 5000, 4, seed=3)
    big = Interactions(**{**big.__dict__, "timestamp": np.random.default_rng(0).integers(0, 300, 5000)})
    s = splits.temporal_split(big, 0.2)
    assert len(s.test) == 1000 and s.test.timestamp.min() >= s.train.timestamp.max()


def test_leave_last_out_holds_out_exactly_each_users_latest() -> None:
    d = _table(ROWS)
    s = splits.split_rows(d, "leave_last_out", 0.2, seed=0)
    # ann: time 50 (row 0); bob: a tie at 20 between rows 3 and 4, the later row (4); cat has one
    # row only and keeps it for training; dan: a tie at 60, the later row (9).
    assert _rows(s.test) == {0, 4, 9}
    assert _rows(s.train) == {1, 2, 3, 5, 6, 7, 8}
    assert len(s.test) == len(set(s.test.user))  # one per user
    for user in set(s.test.user):
        assert s.test.timestamp[s.test.user == user].min() >= s.train.timestamp[s.train.user == user].max()
    two = splits.leave_last_out_split(d, count=2)
    assert _rows(two.test) == {0, 2, 3, 4, 8, 9}  # two each, but cat, whose one row stays in training


def test_leave_last_out_on_many_users_holds_out_the_true_maximum() -> None:
    big = synthetic.make_synthetic(60, 25, 4000, 4, seed=5)
    rng = np.random.default_rng(1)
    big = Interactions(
        **{**big.__dict__, "timestamp": rng.permutation(4000).astype(np.int64)}
    )  # distinct times
    held = splits.latest_per_user(big, 1)
    for user in np.unique(big.user):
        mine = big.user == user
        if mine.sum() > 1:
            assert held[mine].sum() == 1 and big.timestamp[held & mine][0] == big.timestamp[mine].max()
        else:
            assert not held[mine].any()


@pytest.mark.parametrize("rule", ["temporal", "leave_last_out"])
def test_validation_is_carved_by_the_same_rule(rule: str) -> None:
    d = _table(ROWS)
    s = splits.split_rows(d, rule, 0.3, seed=0)
    carved = splits.carve_validation(Split(s.train, s.test), 0.3, seed=0, rule=rule)
    assert carved.val is not None and carved.test is s.test
    assert _rows(carved.train) | _rows(carved.val) == _rows(s.train)
    if rule == "temporal":
        assert carved.val.timestamp.min() >= carved.train.timestamp.max()
        assert len(carved.val) == 2  # round(7 * 0.3)
    else:
        # each user's latest training row: ann's (time 30, row 2), bob's (row 3), dan's (row 8)
        assert _rows(carved.val) == {2, 3, 8}


def test_unknown_rule() -> None:
    with pytest.raises(ValueError, match="unknown split rule 'by_moon'"):
        splits.split_rows(_table(ROWS), "by_moon", 0.2, 0)
