"""``train_and_evaluate``: fit, validate, optionally refit, evaluate once on test, write metrics.json.

No Hydra and no config here: the app layer (``mtrec.app``) turns the config into these arguments,
and tests and scripts call it directly.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf

from mtrec.data.interactions import Interactions, Split
from mtrec.data.labels import TaskLabels
from mtrec.data.splits import refit_split
from mtrec.evaluation.evaluate import evaluate
from mtrec.evaluation.ranking import SeenMovies
from mtrec.model.multitask import MultitaskModel
from mtrec.training.callbacks import (
    EpochHook,
    EpochLogger,
    EpochProgress,
    LogFn,
    StopOnNonFiniteLoss,
    Validate,
)
from mtrec.training.datasets import make_dataset

logger = logging.getLogger("mtrec")


def train_and_evaluate(
    build_model: Callable[[Split], MultitaskModel],
    split: Split,
    output_dir: Path,
    *,
    epochs: int,
    batch_size: int,
    eval_batch_size: int,
    seed: int,
    ranking_k: Sequence[int],
    exclude_seen: bool = True,
    early_stopping: tf.keras.callbacks.EarlyStopping | None = None,
    refit: bool = False,
    verbose: bool = True,
    baselines: Mapping[str, float] | None = None,
    log: LogFn | None = None,
    export: Callable[[MultitaskModel, Interactions], None] | None = None,
    retrieval: TaskLabels | None = None,
    on_epoch_end: Callable[[int, Mapping[str, float]], None] | None = None,
) -> dict[str, float]:
    """Trains on ``split.train``, evaluates once on ``split.test``, writes ``metrics.json``.

    Args:
      build_model: a new compiled model for a split's training rows (called again for a refit).
      split: the dataset, already loaded and split; ``split.val`` is evaluated every epoch.
      output_dir: where ``metrics.json`` goes.
      epochs: training epochs (at most, with early stopping).
      batch_size: training batch size; ``eval_batch_size`` the evaluations'.
      seed: the shuffling's seed.
      ranking_k: the K of Recall@K and NDCG@K.
      exclude_seen: Recall/NDCG never rank a user's earlier movies.
      early_stopping: watches a ``val/*`` metric and restores its best epoch's weights.
      refit: after early stopping, train a new model on training + validation rows for the
        selected number of epochs; test evaluates that model.
      verbose: log each epoch.
      baselines: ``baseline/*`` metrics on the final split, reported beside the model's.
      log: called with (metrics, step) after every epoch and once after evaluation.
      export: called with the final model and its training rows (timed as ``time/export_seconds``).
      retrieval: the retrieval task's label rule: Recall/NDCG rank its positive rows only, and
        never a user's earlier positives; None: every row.
      on_epoch_end: called with (epoch, metrics) after each epoch of the first fit (not the
        refit's); what it raises ends training (a search's pruner).

    Returns:
      ``test/*`` metrics (``val/*`` too with a validation split), the baselines, ``time/*``, and
      with learned loss weights each trained task's final ``weight/<task>``.

    Raises:
      NonFiniteLossError: a training loss became NaN or infinite.
    """
    log = log or (lambda metrics, step: None)
    start = time.perf_counter()
    model = build_model(split)
    train_ds = make_dataset(split.train, batch_size, shuffle_seed=seed)
    test_ds = make_dataset(split.test, eval_batch_size)
    ranked = retrieval.positive_rows if retrieval is not None else (lambda rows: rows)

    def score(
        model: MultitaskModel,
        ds: tf.data.Dataset,
        rows: Interactions,
        seen: SeenMovies | None,
        prefix: str,
        once: bool = False,
    ) -> dict[str, float]:
        return evaluate(
            model,
            ds,
            ranked(rows),
            seen,
            prefix,
            batch_size=eval_batch_size,
            ranking_k=ranking_k,
            once=once,
            ranking_prefix=retrieval.metric_prefix if retrieval is not None else "",
            num_rows=len(rows),
        )

    epoch_logger = EpochLogger(epochs, log, verbose)
    callbacks: list[tf.keras.callbacks.Callback] = [StopOnNonFiniteLoss()]
    # Recall/NDCG never rank a user's own training movies: for validation those of train, for test
    # those of train and validation (every movie the user rated before the test split).
    seen_train = ranked(split.train)
    seen_before_val = SeenMovies(seen_train.user, seen_train.movie)
    seen_before_test = seen_before_val
    if split.val is not None:
        val, val_ds = split.val, make_dataset(split.val, eval_batch_size)
        val_seen = seen_before_val if exclude_seen else None
        callbacks.append(Validate(lambda: score(model, val_ds, val, val_seen, "val")))
        seen_val = ranked(val)
        seen_before_test = SeenMovies(
            np.concatenate([seen_train.user, seen_val.user]),
            np.concatenate([seen_train.movie, seen_val.movie]),
        )
    if early_stopping is not None:
        callbacks.append(early_stopping)
    callbacks.append(epoch_logger)
    if on_epoch_end is not None:
        callbacks.append(EpochHook(on_epoch_end))
    if verbose:
        callbacks.append(EpochProgress(epochs, steps=math.ceil(len(split.train) / batch_size)))
    fit_start = time.perf_counter()
    model.fit(train_ds, epochs=epochs, verbose=0, callbacks=callbacks)
    results: dict[str, float] = {}
    if split.val is not None:
        # The selected (restored) weights on validation: what hparam searches may optimise.
        results.update(score(model, val_ds, split.val, val_seen, "val"))
    results["train/epochs_run"] = len(epoch_logger.history)
    refit_history: list[dict[str, float]] = []
    if early_stopping is not None:
        best_epoch = early_stopping.best_epoch + 1
        results["train/best_epoch"] = best_epoch
        if verbose:
            logger.info(f"restored the weights of epoch {best_epoch} (best {early_stopping.monitor})")
    if refit and early_stopping is not None and split.val is not None:  # the config checks ensure both
        refit_start = time.perf_counter()
        split = refit_split(split)
        refit_epochs = best_epoch
        if verbose:
            logger.info(
                f"refitting on train + validation ({len(split.train)} rows) for {refit_epochs} epochs"
            )
        model = build_model(split)
        refit_logger = EpochLogger(refit_epochs, log, verbose, prefix="refit")
        refit_history = refit_logger.history
        model.fit(
            make_dataset(split.train, batch_size, shuffle_seed=seed),
            epochs=refit_epochs,
            verbose=0,
            callbacks=[StopOnNonFiniteLoss(), refit_logger]
            + (
                [EpochProgress(refit_epochs, "refit", math.ceil(len(split.train) / batch_size))]
                if verbose
                else []
            ),
        )
        results["time/refit_seconds"] = time.perf_counter() - refit_start
    # The final model's learned loss weights (``weight/<task>``; none with fixed weights): after early
    # stopping, those of the restored epoch; after a refit, the refitted model's.
    results.update({name: float(value) for name, value in model.learned_weights().items()})
    eval_start = time.perf_counter()
    test_seen = seen_before_test if exclude_seen else None
    results.update(score(model, test_ds, split.test, test_seen, "test", once=True))
    results.update(baselines or {})
    end = time.perf_counter()
    if export is not None:
        export(model, split.train)
        results["time/export_seconds"] = time.perf_counter() - end

    results["time/build_seconds"] = fit_start - start
    results["time/fit_seconds"] = eval_start - fit_start
    results["time/evaluate_seconds"] = end - eval_start
    results["time/total_seconds"] = end - start
    log(results, epochs)
    output_dir.mkdir(parents=True, exist_ok=True)
    # Written whole, then renamed: a crash never leaves a half-written metrics.json behind.
    partial = output_dir / "metrics.json.partial"
    history = {"train_history": epoch_logger.history, "refit_history": refit_history}
    partial.write_text(json.dumps({"test": results, **history}, indent=2))
    partial.replace(output_dir / "metrics.json")
    return results
