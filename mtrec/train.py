"""train_and_evaluate(cfg, ...) -> metrics. No Hydra here: tests and scripts call it directly."""

from __future__ import annotations

import functools
import json
import logging
import math
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import tensorflow as tf

from mtrec.baselines import compute_baselines, fit_biases, labelled
from mtrec.config import Config
from mtrec.evaluation import SeenMovies, evaluate, rename
from mtrec.interactions import Interactions, Split, movies_by_user
from mtrec.model import ModelOptions, MultitaskModel

LogFn = Callable[[Mapping[str, float], int | None], None]
logger = logging.getLogger("mtrec")


def describe(model: MultitaskModel, split: Split) -> str:
    """One line on the built (untrained) model, for dry runs."""
    return (
        f"model ok: {split.train.num_users} users, {split.train.num_movies} movies, "
        f"{len(split.train)} train / {len(split.test)} test rows, "
        f"{model.count_params():,} parameters"
    )


@functools.cache
def make_strategy(name: str) -> tf.distribute.Strategy:
    """The ``trainer.strategy`` of this process, created once (TF allows one multi-worker set-up).

    ``mirrored`` replicates over every local GPU, else over every logical CPU device (one unless
    they were split with ``tf.config.set_logical_device_configuration``). ``multi_worker`` reads
    the cluster from ``TF_CONFIG``; without it, this process is a cluster of one.
    """
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def build_model(cfg: Config, split: Split) -> MultitaskModel:
    """The configured model, compiled with the configured optimizer, in ``trainer.strategy``'s scope."""
    tf.keras.utils.set_random_seed(cfg.trainer.seed)
    with make_strategy(cfg.trainer.strategy).scope():
        model = _build_model(cfg, split)
        # Creates the weights now, not inside the first (replicated) training step, so that one
        # seed gives the same initial weights under every strategy.
        model(make_dataset(split.train, 2).take(1).get_single_element())
        # The optimizer's slots too: created inside the first training step, they would make
        # tf.function trace the whole step twice (once to create them, once to run).
        model.optimizer.build(model.trainable_variables)
    return model


def _build_model(cfg: Config, split: Split) -> MultitaskModel:
    m, train = cfg.model, split.train
    counts = np.bincount(train.movie, minlength=train.num_movies + 1).astype(np.float64)
    log_frequency = np.log(np.maximum(counts, 1.0) / len(train))  # of each movie in training
    movie_log_q = m.logq_weight * log_frequency if m.logq_correction else None
    movie_score_bias = m.popularity_prior * log_frequency if m.popularity_prior else None
    labeled = train.rating if train.labeled is None else train.rating[train.labeled]
    user_history = None
    if m.user_history:
        user_history = movies_by_user(train)
    options = ModelOptions(
        biases=m.biases,
        global_mean=float(labeled.mean()),
        rating_factors=m.rating_factors,
        interaction_features=m.interaction_features,
        dropout=m.dropout,
        embedding_l2=m.embedding_l2,
        rating_l2=m.rating_l2,
        temperature=m.temperature,
        movie_log_q=movie_log_q,
        fixed_biases=fit_biases(labelled(train)) if m.biases and m.baseline_biases else None,
        user_history=user_history,
        user_features=train.user_features if m.user_features else None,
        movie_features=train.movie_features if m.movie_features else None,
        movie_score_bias=movie_score_bias,
    )
    model = MultitaskModel(
        user_vocab=split.train.user_vocab,
        movie_vocab=split.train.movie_vocab,
        embedding_dim=cfg.model.embedding_dim,
        rating_hidden_units=list(cfg.model.rating_hidden_units),
        rating_weight=cfg.loss.rating_weight,
        retrieval_weight=cfg.loss.retrieval_weight,
        top_k=list(cfg.trainer.top_k),
        retrieval_reduction=cfg.loss.retrieval_reduction,
        retrieval_candidates=cfg.loss.retrieval_candidates,
        options=options,
    )
    optimizers = {
        "adagrad": tf.keras.optimizers.Adagrad,
        "adam": tf.keras.optimizers.Adam,
        "sgd": tf.keras.optimizers.SGD,
    }
    model.compile(optimizer=optimizers[cfg.optimizer.name](learning_rate=cfg.optimizer.lr))
    return model


def make_dataset(data: Interactions, batch_size: int, shuffle_seed: int | None = None) -> tf.data.Dataset:
    """Batches of {"user", "movie", "rating", "rating_mask"}; reshuffled every epoch when a seed is
    given. ``rating_mask`` (only when ratings are masked) is 0 for a row whose rating the model
    must not learn from.

    The columns are held once, as tensors, and each batch is one slice (or, shuffled, one gather)
    of them: tf.data handles a batch, never a row (per-row elements cost ~3 us a row of CPU).
    Shuffling draws a permutation of row numbers each epoch (4 bytes a row) and gathers each batch
    from its next ``batch_size`` entries, instead of a shuffle buffer that holds every row as its
    own element (measured: +757 MB of peak RSS for 2M rows, ~380 bytes a row). The permutations
    depend only on ``shuffle_seed`` and the epoch.
    """
    columns = {"user": data.user, "movie": data.movie, "rating": data.rating}
    if data.labeled is not None:
        columns["rating_mask"] = data.rating_mask
    tensors = {k: tf.constant(v) for k, v in columns.items()}
    if shuffle_seed is None:
        ds = _in_batches(tensors, batch_size)
    else:
        num_rows = len(data)

        def epoch(seed: tf.Tensor) -> tf.data.Dataset:
            order = tf.random.experimental.stateless_shuffle(tf.range(num_rows), seed=seed)
            return _in_batches({"rows": order}, batch_size).map(
                lambda batch: {k: tf.gather(v, batch["rows"]) for k, v in tensors.items()}
            )

        # A fresh [2] seed on each pass over the dataset, i.e. each epoch; reproducible by shuffle_seed.
        epoch_seed = tf.data.Dataset.random(seed=shuffle_seed, rerandomize_each_iteration=True).batch(2)
        ds = epoch_seed.take(1).flat_map(epoch)
    return ds.prefetch(tf.data.AUTOTUNE)


def _in_batches(columns: dict[str, tf.Tensor], batch_size: int) -> tf.data.Dataset:
    """Consecutive batches of equally long columns, each one element: the whole batches as the
    rows of a [-1, batch_size] reshape, then the shorter last one (no function to trace)."""
    num_rows = int(next(iter(columns.values())).shape[0])
    whole = num_rows // batch_size * batch_size
    ds = tf.data.Dataset.from_tensor_slices(
        {k: tf.reshape(v[:whole], [-1, batch_size]) for k, v in columns.items()}
    )
    if whole < num_rows:
        ds = ds.concatenate(tf.data.Dataset.from_tensors({k: v[whole:] for k, v in columns.items()}))
    return ds


class NonFiniteLossError(FloatingPointError):
    """A training loss became NaN or infinite; the message names the loss, epoch and batch."""


class _StopOnNonFiniteLoss(tf.keras.callbacks.Callback):
    """Stops training at the first batch whose running loss is NaN or infinite."""

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch + 1

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        for name in ("rating_loss", "retrieval_loss", "loss"):
            value = (logs or {}).get(name)
            if value is not None and not math.isfinite(float(value)):
                raise NonFiniteLossError(
                    f"train/{name} became {float(value)} in epoch {self._epoch}, batch {batch + 1}; "
                    "lower optimizer.lr or the loss weights"
                )


class _EpochLogger(tf.keras.callbacks.Callback):
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


_BASELINES: dict[tuple, dict[str, float]] = {}


def _baselines(cfg: Config, split: Split) -> dict[str, float]:
    """Baselines on this run's split, computed once per process for each distinct split."""
    d, t = cfg.dataset, cfg.trainer
    key = (repr(d), t.val_fraction, t.refit, t.seed if d.rating_fraction < 1 else None, tuple(t.top_k))
    if key not in _BASELINES:
        _BASELINES[key] = compute_baselines(split, t.top_k)
    return _BASELINES[key]


class _Validate(tf.keras.callbacks.Callback):
    """Adds ``val/*`` metrics to each epoch's logs, before early stopping and logging read them."""

    def __init__(self, evaluate_fn: Callable[[], dict[str, float]]) -> None:
        super().__init__()
        self.evaluate_fn = evaluate_fn

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is not None:
            logs.update(self.evaluate_fn())


def train_and_evaluate(
    cfg: Config,
    split: Split,
    output_dir: Path,
    log: LogFn | None = None,
    export_dir: Path | None = None,
) -> dict[str, float]:
    """Trains on ``split.train``, evaluates once on ``split.test``, writes ``metrics.json``.

    Args:
      cfg: the validated config.
      split: the dataset, already loaded and split (see ``mtrec.data.load_split``).
      output_dir: where ``metrics.json`` goes.
      log: called with (metrics, step) after every epoch and once after evaluation.
      export_dir: when set, the trained model is exported there (``mtrec.serving``).

    Returns:
      ``test/*`` metrics (``test/rmse``, ``test/top_{k}_accuracy``, losses), ``baseline/*``
      metrics on the same split, and ``time/*``.

    Raises:
      NonFiniteLossError: a training loss became NaN or infinite.
    """
    log = log or (lambda metrics, step: None)
    t = cfg.trainer
    start = time.perf_counter()
    model = build_model(cfg, split)
    train_ds = make_dataset(split.train, t.batch_size, shuffle_seed=t.seed)
    test_ds = make_dataset(split.test, t.eval_batch_size)

    epoch_logger = _EpochLogger(t.epochs, log, t.verbose)
    callbacks: list[tf.keras.callbacks.Callback] = [_StopOnNonFiniteLoss()]
    stopper = None
    # Recall/NDCG never rank a user's own training movies: for validation those of train, for test
    # those of train and validation (every movie the user rated before the test split).
    seen_before_val = SeenMovies(split.train.user, split.train.movie)
    seen_before_test = seen_before_val
    if split.val is not None:
        val, val_ds = split.val, make_dataset(split.val, t.eval_batch_size)
        callbacks.append(_Validate(lambda: evaluate(model, val_ds, val, seen_before_val, cfg, "val")))
        seen_before_test = SeenMovies(
            np.concatenate([split.train.user, val.user]), np.concatenate([split.train.movie, val.movie])
        )
    if t.early_stopping.metric is not None:
        es = t.early_stopping
        stopper = tf.keras.callbacks.EarlyStopping(
            monitor=es.metric,
            mode=es.goal,
            patience=es.patience,
            min_delta=es.min_delta,
            restore_best_weights=True,
        )
        callbacks.append(stopper)
    callbacks.append(epoch_logger)
    fit_start = time.perf_counter()
    model.fit(train_ds, epochs=t.epochs, verbose=0, callbacks=callbacks)
    results: dict[str, float] = {}
    if split.val is not None:
        # The selected (restored) weights on validation: what hparam searches may optimise.
        results.update(evaluate(model, val_ds, split.val, seen_before_val, cfg, "val"))
    results["train/epochs_run"] = len(epoch_logger.history)
    refit_history: list[dict[str, float]] = []
    if stopper is not None:
        results["train/best_epoch"] = stopper.best_epoch + 1
        if t.verbose:
            logger.info(f"restored the weights of epoch {stopper.best_epoch + 1} (best {es.metric})")
    if t.refit and stopper is not None and split.val is not None:  # validate() ensures both
        refit_start = time.perf_counter()
        split = Split(train=split.train.concat(split.val), test=split.test)
        epochs = stopper.best_epoch + 1
        if t.verbose:
            logger.info(f"refitting on train + validation ({len(split.train)} rows) for {epochs} epochs")
        model = build_model(cfg, split)
        refit_logger = _EpochLogger(epochs, log, t.verbose, prefix="refit")
        refit_history = refit_logger.history
        model.fit(
            make_dataset(split.train, t.batch_size, shuffle_seed=t.seed),
            epochs=epochs,
            verbose=0,
            callbacks=[_StopOnNonFiniteLoss(), refit_logger],
        )
        results["time/refit_seconds"] = time.perf_counter() - refit_start
    eval_start = time.perf_counter()
    results.update(evaluate(model, test_ds, split.test, seen_before_test, cfg, "test", once=True))
    results.update(_baselines(cfg, split))
    end = time.perf_counter()
    if export_dir is not None:
        from mtrec.serving import export_model

        # Jobs of one process that differ only in what the serving graph does not depend on (loss
        # weights, optimizer, trainer) write one traced graph again with their own weights. The
        # model config is all that shapes it, besides the training rows (the same object when the
        # split comes from the process's data cache) and the weights' shapes; one device only.
        graph_key = repr(cfg.model) if t.strategy == "default" else None
        export_model(model, split.train, export_dir, graph_key=graph_key)
        results["time/export_seconds"] = time.perf_counter() - end

    results["time/build_seconds"] = fit_start - start
    results["time/fit_seconds"] = eval_start - fit_start
    results["time/evaluate_seconds"] = end - eval_start
    results["time/total_seconds"] = end - start
    log(results, t.epochs)
    output_dir.mkdir(parents=True, exist_ok=True)
    # Written whole, then renamed: a crash never leaves a half-written metrics.json behind.
    partial = output_dir / "metrics.json.partial"
    history = {"train_history": epoch_logger.history, "refit_history": refit_history}
    partial.write_text(json.dumps({"test": results, **history}, indent=2))
    partial.replace(output_dir / "metrics.json")
    return results
