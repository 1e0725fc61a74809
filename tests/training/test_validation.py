"""Validation split, rating-label masking and early stopping."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from omegaconf import OmegaConf

from mtrec.app import training as app_training
from mtrec.app.dataset import prepare
from mtrec.app.process import ProcessState
from mtrec.config import Config, ConfigError, validate
from mtrec.data.interactions import Interactions, Split
from mtrec.evaluation.baselines import compute_baselines
from mtrec.evaluation.evaluate import evaluate as evaluate_split
from mtrec.training import loop
from mtrec.training.datasets import make_dataset
from tests.helpers import compose_config


def _prepared(*overrides: str) -> tuple[Config, Split]:
    cfg = OmegaConf.to_object(compose_config("experiment=smoke", "tracking=none", *overrides))
    return cfg, prepare(cfg, ProcessState())


def build_model(cfg: Config, split: Split):
    return app_training.build_model(cfg, split, ProcessState())


def train_and_evaluate(cfg: Config, split: Split, output_dir: Path) -> dict[str, float]:
    return app_training.train(cfg, split, output_dir, ProcessState())


def evaluate(model, ds, heldout, seen, cfg: Config, prefix: str) -> dict[str, float]:
    """A split's metrics with the config's evaluation options."""
    options = {"batch_size": cfg.trainer.eval_batch_size, "ranking_k": cfg.trainer.ranking_k}
    return evaluate_split(model, ds, heldout, seen, prefix, **options)


def _rows(d: Interactions) -> set[int]:
    """Row identities: synthetic timestamps number the generated rows 0..n-1."""
    assert len(set(d.timestamp.tolist())) == len(d)
    return set(d.timestamp.tolist())


def test_validation_is_carved_from_train_and_never_touches_test() -> None:
    _, plain = _prepared()
    _, carved = _prepared("trainer.val_fraction=0.25")
    assert carved.val is not None and plain.val is None
    # The test split is exactly the tutorial's; train + val is exactly the old train.
    assert np.array_equal(carved.test.user, plain.test.user) and np.array_equal(
        carved.test.movie, plain.test.movie
    )
    assert len(carved.val) == round(0.25 * len(plain.train))
    assert _rows(carved.train) | _rows(carved.val) == _rows(plain.train)
    assert not _rows(carved.val) & _rows(carved.train)
    assert not _rows(carved.val) & _rows(carved.test)


def test_rating_mask_keeps_exactly_the_fraction_and_depends_on_the_seed() -> None:
    _, full = _prepared()
    cfg, masked = _prepared("dataset.rating_fraction=0.1")
    labeled = masked.train.masks.get("rating")
    assert labeled is not None and "rating" not in full.train.masks
    assert labeled.sum() == round(0.1 * len(full.train))
    # Every row stays for retrieval; only the label is hidden.
    assert len(masked.train) == len(full.train)
    _, reseeded = _prepared("dataset.rating_fraction=0.1", "trainer.seed=7")
    assert not np.array_equal(reseeded.train.masks["rating"], labeled)
    _, again = _prepared("dataset.rating_fraction=0.1")
    assert np.array_equal(again.train.masks["rating"], labeled)


def test_masked_rows_add_zero_rating_loss_and_no_gradient() -> None:
    cfg, split = _prepared("dataset.rating_fraction=0.5", "loss=rating_only")
    model = build_model(cfg, split)
    batch = make_dataset(split.train, 64).take(1).get_single_element()
    mask = batch["rating_mask"]
    # Changing the ratings of masked rows changes nothing; the loss is the labelled rows' MSE.
    scrambled = dict(batch, rating=tf.where(mask > 0, batch["rating"], batch["rating"] + 100.0))
    with tf.GradientTape(persistent=True) as tape:
        loss = model.compute_loss(dict(batch), training=True)
        loss_scrambled = model.compute_loss(scrambled, training=True)
    assert float(loss) == pytest.approx(float(loss_scrambled))
    predictions = model(batch)["rating"]
    labelled = mask.numpy() > 0
    expected = np.mean((predictions.numpy()[labelled, 0] - batch["rating"].numpy()[labelled]) ** 2)
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    g1 = tape.gradient(loss, model.towers.user_embedding.embeddings)
    g2 = tape.gradient(loss_scrambled, model.towers.user_embedding.embeddings)
    assert np.allclose(tf.convert_to_tensor(g1).numpy(), tf.convert_to_tensor(g2).numpy())


# A large learning rate on a tiny synthetic set: validation RMSE gets worse after a few epochs.
OVERFITTING = (
    "trainer.val_fraction=0.2",
    "trainer.epochs=12",
    "trainer.early_stopping.metric=val/rmse",
    "trainer.early_stopping.patience=2",
    "optimizer=adam",
    "optimizer.lr=0.05",
    "model.embedding_dim=32",
    "model.rating_hidden_units=[64]",
    "loss=rating_only",
)


def test_early_stopping_restores_the_best_epoch(tmp_path: Path) -> None:
    cfg, split = _prepared(*OVERFITTING)
    model_metrics = train_and_evaluate(cfg, split, tmp_path)
    history = json.loads((tmp_path / "metrics.json").read_text())["train_history"]
    val_rmse = [epoch["val/rmse"] for epoch in history]
    best = int(np.argmin(val_rmse))
    assert best < len(val_rmse) - 1, f"validation never degraded: {val_rmse}"
    assert len(history) < 12  # stopped early
    assert model_metrics["train/best_epoch"] == best + 1
    assert model_metrics["train/epochs_run"] == len(history)


def test_early_stopping_selects_no_epoch_before_start_from_epoch(tmp_path: Path) -> None:
    # The run above selects one of its first five epochs; with start_from_epoch=5 the selected
    # epoch is one of epochs 6.., and stopping counts from there.
    cfg, split = _prepared(*OVERFITTING)
    assert train_and_evaluate(cfg, split, tmp_path / "plain")["train/best_epoch"] <= 5
    cfg, split = _prepared(*OVERFITTING, "trainer.early_stopping.start_from_epoch=5")
    model_metrics = train_and_evaluate(cfg, split, tmp_path)
    history = json.loads((tmp_path / "metrics.json").read_text())["train_history"]
    val_rmse = [epoch["val/rmse"] for epoch in history]
    watched = val_rmse[5:]
    assert model_metrics["train/best_epoch"] == 5 + int(np.argmin(watched)) + 1 >= 6
    assert len(history) >= 5 + 1 + 2 or len(history) == 12
    assert model_metrics["val/rmse"] == pytest.approx(min(watched), rel=1e-5)


def test_restored_weights_reproduce_the_best_validation_score(tmp_path: Path, monkeypatch) -> None:
    cfg, split = _prepared(
        "trainer.val_fraction=0.2",
        "trainer.epochs=16",
        "trainer.early_stopping.metric=val/rmse",
        "trainer.early_stopping.patience=16",
        "optimizer=adam",
        "optimizer.lr=0.05",
        "model.embedding_dim=32",
        "model.rating_hidden_units=[64]",
        "loss=rating_only",
    )
    final_val = {}

    def spy(model, ds, heldout, seen, prefix, **options):
        out = evaluate_split(model, ds, heldout, seen, prefix, **options)
        if prefix == "test":  # After training: the restored weights, scored on val again.
            final_val.update(evaluate(model, make_dataset(split.val, 512), split.val, None, cfg, "val"))
        return out

    monkeypatch.setattr(loop, "evaluate", spy)
    train_and_evaluate(cfg, split, tmp_path)
    history = json.loads((tmp_path / "metrics.json").read_text())["train_history"]
    best = min(epoch["val/rmse"] for epoch in history)
    assert best < history[-1]["val/rmse"]
    assert final_val["val/rmse"] == pytest.approx(best, rel=1e-5)


def test_refit_trains_a_fresh_model_on_train_and_validation_for_the_best_epochs(
    tmp_path: Path, monkeypatch
) -> None:
    cfg, split = _prepared(
        "trainer.val_fraction=0.2",
        "trainer.epochs=12",
        "trainer.early_stopping.metric=val/rmse",
        "trainer.early_stopping.patience=2",
        "trainer.refit=true",
        "optimizer=adam",
        "optimizer.lr=0.05",
        "loss=rating_only",
    )
    built, models, tested = [], [], []

    real_build = app_training.build_model

    def spy_build(cfg_, split_, state):
        built.append(split_)
        models.append(real_build(cfg_, split_, state))
        return models[-1]

    monkeypatch.setattr(app_training, "build_model", spy_build)

    def spy(model, ds, heldout, seen, prefix, **options):
        if prefix == "test":
            tested.append(model)
        return evaluate_split(model, ds, heldout, seen, prefix, **options)

    monkeypatch.setattr(loop, "evaluate", spy)
    metrics = train_and_evaluate(cfg, split, tmp_path)
    written = json.loads((tmp_path / "metrics.json").read_text())
    best = int(np.argmin([epoch["val/rmse"] for epoch in written["train_history"]])) + 1
    assert metrics["train/best_epoch"] == best
    # The second model trained on every non-test row, for the selected number of epochs, and it
    # is the one that test scores; the selected model's validation metrics are still reported.
    assert len(built) == 2 and built[1].val is None
    assert _rows(built[1].train) == _rows(split.train) | _rows(split.val)
    assert len(written["refit_history"]) == best
    assert len(tested) == 1 and tested[0] is models[1]
    assert "val/rmse" in metrics and metrics["time/refit_seconds"] > 0
    # The baselines are fitted on the same rows as the refitted model.
    assert metrics["baseline/bias/rmse"] == compute_baselines(built[1], [10])["baseline/bias/rmse"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["trainer.early_stopping.metric=val/rmse"], "trainer.val_fraction must be > 0 when early stopping"),
        (
            ["trainer.val_fraction=0.1", "trainer.early_stopping.metric=test/rmse"],
            "trainer.early_stopping.metric",
        ),
        (["trainer.val_fraction=1.0"], "trainer.val_fraction must be in [0, 1)"),
        (["dataset.rating_fraction=0"], "dataset.rating_fraction must be in (0, 1]"),
        (["trainer.ranking_k=[0]"], "trainer.ranking_k[0] must be > 0"),
        (["trainer.refit=true"], "trainer.refit must be false unless trainer.early_stopping.metric"),
        (
            [
                "trainer.val_fraction=0.1",
                "trainer.early_stopping.metric=val/rmse",
                "trainer.early_stopping.start_from_epoch=3",
            ],
            "trainer.early_stopping.start_from_epoch must be >= 0 and below trainer.epochs (3)",
        ),
    ],
)
def test_bad_values_name_their_key(overrides: list[str], message: str) -> None:
    cfg = OmegaConf.to_object(compose_config(*overrides))
    with pytest.raises(ConfigError, match=re.escape(message)):
        validate(cfg)


def test_evaluate_reports_recall_and_ndcg(tmp_path: Path) -> None:
    cfg, split = _prepared("trainer.ranking_k=[5,10]")
    model = build_model(cfg, split)
    metrics = evaluate(model, make_dataset(split.test, 512), split.test, None, cfg, "test")
    for name in ("recall_at_5", "ndcg_at_5", "recall_at_10", "ndcg_at_10"):
        assert 0.0 <= metrics[f"test/{name}"] <= 1.0
    assert metrics["test/recall_at_10"] >= metrics["test/recall_at_5"]


def test_each_validation_scores_the_current_candidates() -> None:
    """Keras traces its test function once; the candidates indexed after later epochs must be used."""
    cfg, split = _prepared("trainer.val_fraction=0.2", "optimizer=adam", "optimizer.lr=0.05")
    model = build_model(cfg, split)
    train_ds, val_ds = make_dataset(split.train, 256, shuffle_seed=1), make_dataset(split.val, 512)
    for _ in range(3):
        model.fit(train_ds, epochs=1, verbose=0)
        got = evaluate(model, val_ds, split.val, None, cfg, "val")["val/top_10_accuracy"]
        candidates = model.towers.movie(tf.range(1, split.train.num_movies + 1)).numpy()
        scores = model.towers.user(split.val.user).numpy() @ candidates.T
        rank = (scores > np.take_along_axis(scores, split.val.movie[:, None] - 1, axis=1)).sum(axis=1)
        assert got == pytest.approx(np.mean(rank < 10), abs=0.01)


def test_rating_baselines_see_only_the_labelled_ratings() -> None:
    _, split = _prepared("dataset.rating_fraction=0.2")
    labelled = split.train.take(np.flatnonzero(split.train.masks["rating"]))
    masked = compute_baselines(split, [10])
    only_labelled = compute_baselines(Split(labelled, split.test), [10])
    assert masked["baseline/global_mean/rmse"] == only_labelled["baseline/global_mean/rmse"]
    assert masked["baseline/bias/rmse"] == only_labelled["baseline/bias/rmse"]
    # Popularity still counts every training row: retrieval data is not masked.
    full = compute_baselines(Split(replace(split.train, masks={}), split.test), [10])
    assert masked["baseline/popularity/top_10_accuracy"] == full["baseline/popularity/top_10_accuracy"]
    assert masked["baseline/global_mean/rmse"] != full["baseline/global_mean/rmse"]


@pytest.mark.parametrize("weight", [1.0, 1.5])
def test_logq_correction_subtracts_weighted_log_training_frequency(weight: float) -> None:
    cfg, split = _prepared("model.logq_correction=true", f"model.logq_weight={weight}")
    model = build_model(cfg, split)
    counts = np.bincount(split.train.movie, minlength=split.train.num_movies + 1)
    rated = counts > 0
    want = weight * np.log(counts[rated] / len(split.train))
    np.testing.assert_allclose(model.retrieval.movie_log_q.numpy()[rated], want, rtol=1e-5)
