"""The per-process state: a dataset parsed once per process, loads and hits counted."""

from __future__ import annotations

from mtrec.app import dataset
from mtrec.app.process import ProcessState
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
