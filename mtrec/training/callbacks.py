"""Keras callbacks of a training run: NaN guard, per-epoch logging, validation."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping

import tensorflow as tf

from mtrec.evaluation.evaluate import rename

LogFn = Callable[[Mapping[str, float], int | None], None]
logger = logging.getLogger("mtrec")


class NonFiniteLossError(FloatingPointError):
    """A training loss became NaN or infinite; the message names the loss, epoch and batch."""


class StopOnNonFiniteLoss(tf.keras.callbacks.Callback):
    """Stops training at the first batch whose running loss is NaN or infinite; a task's loss is
    named before the total it spoils."""

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch + 1

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        losses = [name for name in logs if name.endswith("_loss")] + ["loss"] * ("loss" in logs)
        for name in losses:
            value = logs[name]
            if not math.isfinite(float(value)):
                raise NonFiniteLossError(
                    f"train/{name} became {float(value)} in epoch {self._epoch}, batch {batch + 1}; "
                    "lower optimizer.lr or the loss weights"
                )


class EpochLogger(tf.keras.callbacks.Callback):
    """Logs each epoch's ``{prefix}/*`` training metrics (and ``val/*``, when validating)."""

    def __init__(self, epochs: int, log: LogFn, verbose: bool, prefix: str = "train") -> None:
        super().__init__()
        self.epochs, self.log, self.verbose, self.prefix = epochs, log, verbose, prefix
        self.history: list[dict[str, float]] = []

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        metrics = rename(logs or {}, self.prefix)
        metrics[f"{self.prefix}/epoch_seconds"] = time.perf_counter() - self._start
        self.history.append(metrics)
        self.log(metrics, epoch + 1)
        if self.verbose:
            shown = "  ".join(f"{k}={v:.4g}" for k, v in metrics.items())
            logger.info(f"{self.prefix} epoch {epoch + 1}/{self.epochs}  {shown}")


class Validate(tf.keras.callbacks.Callback):
    """Adds ``val/*`` metrics to each epoch's logs, before early stopping and logging read them."""

    def __init__(self, evaluate_fn: Callable[[], dict[str, float]]) -> None:
        super().__init__()
        self.evaluate_fn = evaluate_fn

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is not None:
            logs.update(self.evaluate_fn())
