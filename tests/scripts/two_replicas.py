"""One training step and one training run under the default strategy and under two mirrored
replicas (two logical CPUs, which TensorFlow allows only before it starts); prints JSON.

Usage: python tests/scripts/two_replicas.py OUTPUT_DIR
"""

import json
import sys
from pathlib import Path

import tensorflow as tf

import mtrec  # noqa: F401  (sets TF_USE_LEGACY_KERAS before Keras loads)

tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0], [tf.config.LogicalDeviceConfiguration()] * 2
)

from mtrec.app import training  # noqa: E402
from mtrec.app.dataset import load_split  # noqa: E402
from mtrec.app.process import ProcessState  # noqa: E402
from mtrec.training.datasets import make_dataset  # noqa: E402
from tests.helpers import compose_config  # noqa: E402

out = Path(sys.argv[1])
state = ProcessState()
split = load_split(compose_config("dataset=synthetic").dataset, state)
# Batch 64 is 32 per replica; 4000 training rows leave a last batch of 32, 16 per replica.
overrides = [
    "dataset=synthetic",
    "trainer.batch_size=64",
    "trainer.epochs=1",
    "trainer.verbose=false",
    "trainer.top_k=[1,10]",
    "model.embedding_dim=8",
    "optimizer.lr=0.05",
]
result = {}
batches = iter(make_dataset(split.train, 64))
# 64 rows split 32/32; 63 rows 32/31; 1 row 1/0 (an epoch's last batch can leave a replica empty).
steps = {"64": next(batches), "63": {k: v[:63] for k, v in next(batches).items()}}
steps["1"] = {k: v[:1] for k, v in next(batches).items()}
for strategy in ("default", "mirrored"):
    for rows, batch in steps.items():
        reduction = "sum" if rows == "64" else "mean"
        cfg = compose_config(
            *overrides, f"trainer.strategy={strategy}", f"loss.retrieval_reduction={reduction}"
        )
        model = training.build_model(cfg, split, state)
        if rows == "64":
            result[strategy + "/replicas"] = model.distribute_strategy.num_replicas_in_sync
            result[strategy + "/initial_weights"] = [w.numpy().tolist() for w in model.trainable_weights]
        # One step: a dataset of one batch, which Keras splits over the replicas.
        logs = model.fit(tf.data.Dataset.from_tensors(batch), epochs=1, verbose=0).history
        result[f"{strategy}/{rows}/step_logs"] = {k: float(v[0]) for k, v in logs.items()}
        weights = [w.numpy().tolist() for w in model.trainable_weights]
        result[f"{strategy}/{rows}/weights_after_step"] = weights
    # Learned (uncertainty) weights: each replica adds s_i / replicas, so the step is one device's.
    cfg = compose_config(*overrides, f"trainer.strategy={strategy}", "loss.weighting=uncertainty")
    model = training.build_model(cfg, split, state)
    logs = model.fit(tf.data.Dataset.from_tensors(steps["63"]), epochs=1, verbose=0).history
    result[f"{strategy}/uncertainty/step_logs"] = {k: float(v[0]) for k, v in logs.items()}
    weights = [w.numpy().tolist() for w in model.trainable_weights]
    result[f"{strategy}/uncertainty/weights_after_step"] = weights
    cfg = compose_config(*overrides, f"trainer.strategy={strategy}")
    result[strategy + "/metrics"] = training.train(cfg, split, out / strategy, state)
print(json.dumps(result))
