"""trainer.strategy: the value is checked, and two mirrored replicas train like one device.

The replicated runs need two logical CPU devices, which TensorFlow allows only before it starts,
so they run in a fresh subprocess (``tests/scripts/two_replicas.py``) that prints its measurements
as JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mtrec.config import ConfigError, validate
from tests.helpers import REPO, compose_config, free_port, run_script


def test_unknown_strategy_is_refused_with_the_allowed_values() -> None:
    cfg = compose_config("trainer.strategy=tpu")
    with pytest.raises(ConfigError, match=r"^trainer\.strategy must be one of \('default', 'mirrored', "):
        validate(cfg)
    validate(compose_config("trainer.strategy=multi_worker"))


@pytest.fixture(scope="module")
def two_replicas(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("strategy")
    proc = run_script("two_replicas.py", str(out))
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_mirrored_uses_both_logical_cpus(two_replicas: dict) -> None:
    assert two_replicas["default/replicas"] == 1 and two_replicas["mirrored/replicas"] == 2


def test_one_seed_gives_the_same_initial_weights_under_both(two_replicas: dict) -> None:
    default, mirrored = two_replicas["default/initial_weights"], two_replicas["mirrored/initial_weights"]
    assert len(default) == len(mirrored) == 8  # 2 embeddings; kernel and bias of 256, 128 and 1 units
    for got, want in zip(mirrored, default):
        np.testing.assert_array_equal(np.array(got), np.array(want))


@pytest.mark.parametrize("rows", ["64", "63", "1"])
def test_one_mirrored_step_equals_one_default_step(two_replicas: dict, rows: str) -> None:
    default, mirrored = two_replicas[f"default/{rows}/step_logs"], two_replicas[f"mirrored/{rows}/step_logs"]
    # Global-batch losses: the rating MSE over every row, the softmax over every row's candidates.
    assert set(mirrored) == {"loss", "rating_loss", "retrieval_loss"} == set(default)
    for name in default:
        assert np.isfinite(mirrored[name])
        assert mirrored[name] == pytest.approx(default[name], rel=1e-5, abs=1e-6), name
    after = zip(
        two_replicas[f"mirrored/{rows}/weights_after_step"],
        two_replicas[f"default/{rows}/weights_after_step"],
    )
    for got, want in after:
        np.testing.assert_allclose(np.array(got), np.array(want), rtol=1e-4, atol=1e-6)


def test_one_mirrored_step_with_uncertainty_weighting_equals_one_default_step(two_replicas: dict) -> None:
    default, mirrored = (
        two_replicas["default/uncertainty/step_logs"],
        two_replicas["mirrored/uncertainty/step_logs"],
    )
    assert {"loss", "weight/rating", "weight/retrieval"} <= set(mirrored) == set(default)
    for name in default:
        assert mirrored[name] == pytest.approx(default[name], rel=1e-5, abs=1e-6), name
    after = zip(
        two_replicas["mirrored/uncertainty/weights_after_step"],
        two_replicas["default/uncertainty/weights_after_step"],
    )
    for got, want in after:
        np.testing.assert_allclose(np.array(got), np.array(want), rtol=1e-4, atol=1e-6)


def test_mirrored_training_and_evaluation_match_default(two_replicas: dict) -> None:
    default, mirrored = two_replicas["default/metrics"], two_replicas["mirrored/metrics"]
    for name in ("test/rmse", "test/loss", "test/retrieval_loss"):
        assert np.isfinite(mirrored[name])
        assert mirrored[name] == pytest.approx(default[name], rel=2e-3, abs=1e-3), name
    # One epoch of float-order differences may flip a near-tie: at most 2 of the 1,000 test rows.
    assert abs(mirrored["test/top_10_accuracy"] - default["test/top_10_accuracy"]) <= 0.0025


@pytest.mark.slow
def test_two_multi_worker_processes_train_like_one_device(tmp_path: Path) -> None:
    """Two `mtrec` workers on loopback (TF_CONFIG, as in README) against one default-strategy run."""
    args = ["dataset=synthetic", "tracking=none", "trainer.epochs=1", "trainer.batch_size=256"]
    cluster = {"worker": [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]}
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = {
        name: subprocess.Popen(
            [sys.executable, "-m", "mtrec", *args, *extra, f"hydra.run.dir={tmp_path / name}"],
            cwd=tmp_path,
            env=env | task_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, extra, task_env in [
            ("default", [], {}),
            *(
                (
                    f"worker{i}",
                    ["trainer.strategy=multi_worker"],
                    {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})},
                )
                for i in range(2)
            ),
        ]
    }
    for name, proc in procs.items():
        _, stderr = proc.communicate(timeout=600)
        assert proc.returncode == 0, f"{name}: {stderr[-3000:]}"
    default = json.loads((tmp_path / "default" / "metrics.json").read_text())["test"]
    for worker in ("worker0", "worker1"):
        metrics = json.loads((tmp_path / worker / "metrics.json").read_text())["test"]
        for name in ("test/rmse", "test/loss", "test/rating_loss", "test/retrieval_loss"):
            assert metrics[name] == pytest.approx(default[name], rel=1e-4), (worker, name)
