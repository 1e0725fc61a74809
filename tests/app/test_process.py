"""The per-process state: a dataset parsed once per process, loads and hits counted."""

from __future__ import annotations

import threading

import pytest

from mtrec.app import baselines, dataset
from mtrec.app.prefetch import prefetch
from mtrec.app.process import ProcessState
from mtrec.data.interactions import Split
from tests.helpers import compose_config


def test_load_split_parses_once_per_process(monkeypatch) -> None:
    calls = []
    real = dataset.load_interactions
    monkeypatch.setattr(dataset, "load_interactions", lambda **kwargs: calls.append(1) or real(**kwargs))
    state = ProcessState()
    cfg = compose_config("dataset=synthetic", "dataset.num_interactions=1234")
    first = dataset.load_split(cfg.dataset, state)
    again = dataset.load_split(
        compose_config("dataset=synthetic", "dataset.num_interactions=1234").dataset, state
    )
    other = dataset.load_split(
        compose_config("dataset=synthetic", "dataset.num_interactions=1235").dataset, state
    )
    assert first is again and other is not first and len(calls) == 2


def test_cache_stats_count_loads_and_hits() -> None:
    cfg = compose_config("dataset=synthetic", "dataset.num_interactions=1236").dataset
    state = ProcessState()
    before = state.cache_stats()
    dataset.load_split(cfg, state)
    dataset.load_split(cfg, state)
    after = state.cache_stats()
    assert (after["loads"] - before["loads"], after["hits"] - before["hits"]) == (1, 1)


def test_warm_up_runs_every_task_in_order_past_a_failing_one() -> None:
    from mtrec.app import warmup

    done: list[str] = []

    def fails() -> None:
        done.append("fails")
        raise RuntimeError("not fatal")

    thread = warmup.start([fails, lambda: done.append("after")])
    assert thread is not None and thread.daemon
    thread.join(timeout=10)
    assert done == ["fails", "after"]
    assert warmup.start([]) is None


def test_warm_up_builds_the_map_mlflows_requirement_check_uses() -> None:
    """If MLflow renames its private map builder, the warm-up silently does nothing: this fails."""
    from mlflow.utils import requirements_utils

    from mtrec.app import warmup

    assert hasattr(requirements_utils, "_init_packages_to_modules_map")
    warmup.mlflow_requirement_map()
    assert requirements_utils._MODULES_TO_PACKAGES and "mlflow" in requirements_utils._PACKAGES_TO_MODULES


def test_a_split_under_way_is_waited_for_and_a_prefetched_one_is_no_hit() -> None:
    state, release, loads = ProcessState(), threading.Event(), []
    split = Split(None, None)  # type: ignore[arg-type]  # only its identity matters here

    def slow_load() -> Split:
        loads.append("prefetch")
        release.wait(10)
        return split

    ahead = threading.Thread(target=state.split, args=("key", slow_load, True))
    ahead.start()
    while not loads:  # the prefetch owns the load
        pass
    taken: list[Split] = []
    job = threading.Thread(target=lambda: taken.append(state.split("key", lambda: loads.append("job"))))
    job.start()
    release.set()
    ahead.join(), job.join()
    assert loads == ["prefetch"] and taken == [split]  # loaded once; the job waited for it
    assert (state.loads, state.hits, state.prefetches_taken) == (1, 0, 1)
    assert state.split("key", lambda: loads.append("again")) is split and state.hits == 1


def test_a_failed_load_is_raised_to_its_caller_and_tried_again() -> None:
    state = ProcessState()

    def broken() -> Split:
        raise OSError("unreadable")

    with pytest.raises(OSError, match="unreadable"):
        state.split("key", broken, prefetch=True)
    assert (state.loads, state.prefetched) == (0, set())
    split = Split(None, None)  # type: ignore[arg-type]
    assert state.split("key", lambda: split) is split and (state.loads, state.hits) == (1, 0)


def test_prefetch_loads_the_split_and_computes_the_baselines_the_job_then_takes(monkeypatch) -> None:
    cfg = compose_config("experiment=smoke", "dataset.num_interactions=1237")
    state = ProcessState()
    thread = prefetch(cfg, state)
    assert thread is not None
    thread.join()
    monkeypatch.setattr(dataset, "load_interactions", lambda **kwargs: pytest.fail("loaded again"))
    split = dataset.prepare(cfg, state)
    assert (state.loads, state.prefetches_taken) == (1, 1)
    key, _ = baselines._baselines(cfg, split)
    assert list(state.baselines) == [key]  # started by the prefetch, under the job's key
    started = state.baselines[key]
    assert baselines.baselines(cfg, split, state) is started.result()  # the job waits for them
    assert "baseline/ease/ndcg_at_10" in started.result()


def test_no_prefetch_for_a_tfds_dataset_or_a_dry_run() -> None:
    state = ProcessState()
    assert prefetch(compose_config("dataset=movielens_100k"), state) is None  # TFDS: TensorFlow, a download
    assert prefetch(compose_config("experiment=smoke", "dry_run=true"), state) is None
    assert state.loads == 0
