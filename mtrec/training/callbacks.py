"""Keras callbacks of a training run: NaN guard, in-epoch progress, per-epoch logging, validation,
and a hook after each epoch (a search's pruner)."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping

import tensorflow as tf

from mtrec.evaluation.evaluate import rename

LogFn = Callable[[Mapping[str, float], int | None], None]
logger = logging.getLogger("mtrec")
PROGRESS_INTERVAL_SECONDS = 30.0
"""How often a long epoch says where it is (:class:`EpochProgress`); a shorter epoch says nothing."""


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


class EpochProgress(tf.keras.callbacks.Callback):
    """Logs, every ``interval`` seconds of an epoch, how far it is and when it will end:
    ``train epoch 1/3: batch 1200/4883 (25%), 31 s, ETA 95 s``. Epochs shorter than ``interval``
    (the tutorial's ten batches) log nothing here. The batch total is ``steps`` (the training
    rows over the batch size), else Keras's own once it knows the dataset's size."""

    def __init__(
        self,
        epochs: int,
        prefix: str = "train",
        steps: int | None = None,
        interval: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.epochs, self.prefix, self.steps, self.clock = epochs, prefix, steps, clock
        self.interval = PROGRESS_INTERVAL_SECONDS if interval is None else interval
        self._supports_tf_logs = True  # it reads no logs: Keras need not convert them each batch

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch + 1
        self._start = self._last = self.clock()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        now = self.clock()
        if batch == 0:  # The first batch also traces the step function: the rate starts after it.
            self._first = now
        if batch == 0 or now - self._last < self.interval:
            return
        self._last = now
        done, steps, elapsed = batch + 1, self.steps or self.params.get("steps"), now - self._start
        where = f"{self.prefix} epoch {self._epoch}/{self.epochs}: batch {done}"
        if steps:
            eta = (now - self._first) / batch * max(steps - done, 0)
            logger.info(f"{where}/{steps} ({100 * done / steps:.0f}%), {elapsed:.0f} s, ETA {eta:.0f} s")
        else:
            logger.info(f"{where}, {elapsed:.0f} s")


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


class EpochHook(tf.keras.callbacks.Callback):
    """Calls ``hook(epoch, metrics)`` after each epoch (1-based, ``val/*`` and ``train/*`` names),
    once validation, early stopping and logging have seen it. Whatever the hook raises ends the
    fit: a search's pruner stops a trial this way (:mod:`mtrec.app.trials`)."""

    def __init__(self, hook: Callable[[int, Mapping[str, float]], None]) -> None:
        super().__init__()
        self.hook = hook

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.hook(epoch + 1, rename(logs or {}, "train"))
