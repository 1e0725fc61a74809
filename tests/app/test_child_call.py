"""A call in a child process (mtrec.app.child_call), and the baselines computed in one."""

from __future__ import annotations

import functools
import logging
import operator
import os
import time

import numpy as np
import pytest

from mtrec.app import baselines
from mtrec.app.child_call import ChildCall, ChildError
from mtrec.app.dataset import prepare
from mtrec.app.process import ProcessState
from mtrec.data.interactions import Interactions, Split
from mtrec.data.splits import carve_validation
from mtrec.evaluation.baselines import TUTORIAL_TASKS, StrongBaselines, compute_baselines, run_baselines
from tests.helpers import blas_pools, compose_config


def test_the_result_comes_from_another_process() -> None:
    pid = ChildCall(os.getpid).result()
    assert isinstance(pid, int) and pid != os.getpid()


def test_what_the_call_raises_is_raised_again_with_its_type() -> None:
    with pytest.raises(ZeroDivisionError):
        ChildCall(functools.partial(operator.truediv, 1, 0)).result()


def test_a_child_that_dies_before_answering_is_an_error_naming_its_exit_code() -> None:
    with pytest.raises(ChildError, match="exited with code 3"):
        ChildCall(functools.partial(os._exit, 3)).result()


def test_what_the_call_prints_does_not_corrupt_its_answer(capfd) -> None:
    assert ChildCall(functools.partial(print, "noise on stdout")).result() is None
    assert "noise on stdout" in capfd.readouterr().err  # the child's stdout goes to stderr


def test_blas_threads_limit_the_childs_blas_pool() -> None:
    blas = ChildCall(blas_pools, blas_threads=1).result()
    assert blas and all(pool["num_threads"] == 1 for pool in blas)
    if os.cpu_count() and os.cpu_count() > 1:  # the default: a thread a core
        assert any(pool["num_threads"] > 1 for pool in ChildCall(blas_pools).result())


def test_stop_kills_a_running_child_and_its_waiter_ends() -> None:
    call = ChildCall(functools.partial(time.sleep, 60))
    started = time.monotonic()
    call.stop()
    assert time.monotonic() - started < 30 and not call._thread.is_alive()
    with pytest.raises(ChildError, match="stopped"):
        call.result()


def _tiny_split() -> Split:
    rng = np.random.default_rng(0)
    n = 400
    data = Interactions(
        user_vocab=np.array([str(u) for u in range(30)]),
        movie_vocab=np.array([f"movie {m}" for m in range(20)]),
        user=rng.integers(1, 31, n).astype(np.int32),
        movie=rng.integers(1, 21, n).astype(np.int32),
        rating=rng.integers(1, 6, n).astype(np.float32),
        timestamp=np.arange(n, dtype=np.int64),
    )
    return Split(train=data.take(np.arange(320)), test=data.take(np.arange(320, n)))


def test_run_baselines_in_a_child_equal_compute_baselines_and_its_log_reaches_the_parent(caplog) -> None:
    split = _tiny_split()
    strong = {"ranking_k": (5,), "ease_l2": (1.0, 10.0), "knn_neighbours": 5}
    selection = (0.2, 7, "random", 1)  # without a validation split, EASE's λ rows are carved
    call = functools.partial(run_baselines, split, (1, 5), TUTORIAL_TASKS, False, strong, selection)
    carved = carve_validation(split, 0.2, 7)
    expected = compute_baselines(
        split,
        [1, 5],
        TUTORIAL_TASKS,
        StrongBaselines(selection=Split(carved.train, carved.val), **strong),  # type: ignore[arg-type]
    )
    assert ChildCall(call).result() == expected and "baseline/ease/ndcg_at_5" in expected
    capped = functools.partial(run_baselines, split, (1,), TUTORIAL_TASKS, False, {**strong, "max_items": 3})
    with caplog.at_level(logging.INFO, logger="mtrec"):
        assert "baseline/ease/l2" not in ChildCall(capped).result()
    assert "EASE and item-kNN skipped, 20 movies > baselines.max_items=3" in caplog.text


def test_the_process_state_computes_baselines_in_a_child_or_a_thread() -> None:
    state = ProcessState()
    state.start_baselines("child", os.getpid)  # type: ignore[arg-type]  # any picklable call
    state.start_baselines("thread", os.getpid, in_child=False)  # type: ignore[arg-type]
    unused = pytest.fail
    assert state.baselines_of("child", unused) != os.getpid()  # type: ignore[arg-type, comparison-overlap]
    assert state.baselines_of("thread", unused) == os.getpid()  # type: ignore[arg-type, comparison-overlap]


def test_stop_children_ends_baselines_nobody_waits_for() -> None:
    state = ProcessState()
    state.start_baselines("slow", functools.partial(time.sleep, 60))  # type: ignore[arg-type]
    state.stop_children()
    assert state.children == []
    with pytest.raises(ChildError):
        state.baselines_of("slow", pytest.fail)  # type: ignore[arg-type]


def test_a_jobs_baselines_pickle_and_equal_those_computed_in_process() -> None:
    cfg = compose_config("experiment=smoke", "dataset.num_interactions=1240")
    state = ProcessState()
    split = prepare(cfg, state)
    key, compute = baselines._baselines(cfg, split)
    baselines.start_baselines(cfg, split, state)
    assert len(state.children) == 1  # a small split: in a child process
    assert baselines.baselines(cfg, split, state) == compute()
