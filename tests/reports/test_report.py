"""Pareto sets, baselines and sweep tables on hand-made numbers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from mtrec.config import ParetoObjective
from mtrec.data.interactions import Interactions, Split
from mtrec.evaluation import baselines
from mtrec.reports import pareto, plots, tables
from mtrec.reports import sweep as sweeps

MIN_MAX = ("min", "max")
PARETO = [ParetoObjective("test/rmse", "min"), ParetoObjective("test/top_100_accuracy", "max")]


def test_pareto_keeps_only_undominated_points() -> None:
    points = [(1.0, 0.2), (1.1, 0.3), (1.2, 0.25), (0.9, 0.1), (1.3, 0.3)]
    # (1.2, 0.25) is beaten by (1.1, 0.3); (1.3, 0.3) ties (1.1, 0.3) on accuracy but has worse RMSE.
    assert pareto.pareto_mask(points, MIN_MAX) == [True, True, False, True, False]


def test_pareto_duplicates_and_single_point_and_nan() -> None:
    assert pareto.pareto_mask([(1.0, 0.5), (1.0, 0.5)], MIN_MAX) == [True, True]
    assert pareto.pareto_mask([(2.0, 0.0)], MIN_MAX) == [True]
    assert pareto.pareto_mask([(math.nan, 0.9), (1.0, 0.1)], MIN_MAX) == [False, True]
    assert pareto.pareto_mask([(1.0, 1.0), (2.0, 2.0)], ("max", "max")) == [False, True]


def _interactions(users, movies, ratings, num_users=3, num_movies=4) -> Interactions:
    return Interactions(
        user_vocab=np.array([f"u{i}" for i in range(num_users)]),
        movie_vocab=np.array([f"m{i}" for i in range(num_movies)]),
        user=np.array(users, np.int32),
        movie=np.array(movies, np.int32),
        rating=np.array(ratings, np.float32),
        timestamp=np.zeros(len(users), np.int64),
    )


def test_baselines_on_a_hand_computed_split() -> None:
    train = _interactions([1, 1, 2, 3, 3, 3], [1, 2, 2, 2, 3, 1], [5, 3, 4, 2, 1, 5])
    test = _interactions([1, 2, 3], [3, 2, 4], [4, 4, 1])
    split = Split(train=train, test=test)
    # Training counts: movie 2 three times, movie 1 twice, movie 3 once, movie 4 never.
    assert baselines.popularity_top_k_accuracy(split, [1, 2, 3, 4]) == {1: 1 / 3, 2: 1 / 3, 3: 2 / 3, 4: 1.0}
    mean = (5 + 3 + 4 + 2 + 1 + 5) / 6
    expected = math.sqrt(((4 - mean) ** 2 + (4 - mean) ** 2 + (1 - mean) ** 2) / 3)
    assert baselines.global_mean_rmse(split) == pytest.approx(expected)
    # With no regularisation, one user and one movie, the bias model fits the training mean exactly.
    one = _interactions([1, 1], [1, 1], [2, 4], 1, 1)
    assert baselines.bias_predictions(Split(one, one), 0.0, 0.0, 5) == pytest.approx([3.0, 3.0])
    assert set(baselines.compute_baselines(split, [1, 2])) == {
        "baseline/popularity/top_1_accuracy",
        "baseline/popularity/top_2_accuracy",
        "baseline/global_mean/rmse",
        "baseline/bias/rmse",
    }


def _sweep() -> sweeps.Sweep:
    runs = pd.DataFrame(
        {
            "run_id": ["a", "b", "c", "d"],
            "start_time": pd.to_datetime([1, 2, 3, 4], unit="s"),
            "status": ["FINISHED", "FINISHED", "FINISHED", "FAILED"],
            "tags.mlflow.runName": ["j0", "j1", "j2", "j3"],
            "tags.mtrec.error": [None, None, None, "NonFiniteLossError: boom"],
            "params.loss.rating_weight": ["1.0", "1.0", "0.5", "0.5"],
            "params.loss.retrieval_weight": ["0.1", "1.0", "1.0", "1.0"],
            "params.optimizer.lr": ["0.1", "0.1", "0.1", "9.0"],
            "params.dataset.path": ["x", "y", "x", "x"],
            "metrics.test/rmse": [1.0, 1.1, 1.2, math.nan],
            "metrics.test/top_100_accuracy": [0.1, 0.2, 0.15, math.nan],
            "metrics.time/fit_seconds": [3.0, 4.0, 5.0, math.nan],
            "metrics.baseline/global_mean/rmse": [1.13, 1.13, 1.13, math.nan],
            "metrics.baseline/popularity/top_100_accuracy": [0.3, 0.3, 0.3, math.nan],
        }
    )
    return sweeps._to_sweep(runs, "sweep s", with_histories=False)


def test_summary_table_rows_columns_and_flags() -> None:
    sweep = _sweep()
    assert sweep.swept_keys() == ["loss.rating_weight", "loss.retrieval_weight", "optimizer.lr"]
    table = tables.summary_table(sweep, PARETO)
    assert list(table["job"]) == ["j0", "j1", "j2", "j3", "baseline: global_mean", "baseline: popularity"]
    assert list(table["pareto"]) == ["yes", "yes", "", "", "", ""]
    assert table.loc[4, "test/rmse"] == 1.13 and math.isnan(table.loc[4, "test/top_100_accuracy"])
    assert table.loc[5, "test/top_100_accuracy"] == 0.3
    assert list(table["train_seconds"][:3]) == [3.0, 4.0, 5.0]
    assert sweep.failed_jobs() == ["j3 (FAILED: NonFiniteLossError: boom)"]
    ordered = tables.summary_table(sweep, PARETO, sort_by="test/top_100_accuracy", descending=True)
    assert list(ordered["job"][:4]) == ["j1", "j2", "j0", "j3"]


def test_baselines_scored_on_test_are_never_shown_as_validation_numbers() -> None:
    runs = _sweep().runs.copy()
    runs["metrics.val/rmse"] = [0.9, 1.0, 1.1, math.nan]
    sweep = sweeps._to_sweep(runs.drop(columns=["job"]), "sweep s", with_histories=False)
    objectives = [ParetoObjective("val/rmse", "min"), ParetoObjective("test/top_100_accuracy", "max")]
    table = tables.summary_table(sweep, objectives)
    assert table.loc[4, "job"] == "baseline: global_mean" and table.loc[4, "test/rmse"] == 1.13
    assert math.isnan(table.loc[4, "val/rmse"])


def test_a_baseline_that_differs_between_jobs_is_shown_per_job() -> None:
    # Jobs on different splits (here: a different fraction of rating labels) have their own baselines.
    runs = _sweep().runs.copy()
    runs["metrics.baseline/global_mean/rmse"] = [1.13, 1.20, 1.13, math.nan]
    sweep = sweeps._to_sweep(runs.drop(columns=["job"]), "sweep s", with_histories=False)
    assert sweep.baselines() == {"baseline/popularity/top_100_accuracy": 0.3}
    assert sweep.varying_baselines() == ["baseline/global_mean/rmse"]
    table = tables.summary_table(sweep, PARETO)
    assert list(table["job"]) == ["j0", "j1", "j2", "j3", "baseline: popularity"]
    assert list(table["baseline/global_mean/rmse"][:3]) == [1.13, 1.20, 1.13]


def test_summary_markdown_lists_pareto_set_and_failures() -> None:
    text = tables.summary_markdown(_sweep(), PARETO)
    assert text.startswith("# sweep s\n")
    assert "- j0: test/rmse=1.0000, test/top_100_accuracy=0.1000" in text
    assert "- j3 (FAILED: NonFiniteLossError: boom)" in text
    assert "| j2 | 0.5 | 1.0 | 0.1 | 1.2000 | 0.1500 | 5.0000 | FINISHED |  |" in text


def test_single_run_table_puts_baselines_beside_the_model() -> None:
    text = tables.format_metrics(
        "run",
        {
            "test/rmse": 1.1,
            "test/top_100_accuracy": 0.2,
            "baseline/popularity/top_100_accuracy": 0.3,
            "baseline/global_mean/rmse": 1.13,
            "time/fit_seconds": 2.0,
        },
    )
    lines = text.splitlines()
    assert lines[1].split() == ["metric", "model", "global_mean", "popularity"]
    assert lines[3].split() == ["test/rmse", "1.1000", "1.1300", "-"]
    assert lines[4].split() == ["test/top_100_accuracy", "0.2000", "-", "0.3000"]


def test_strong_baselines_sit_beside_popularity_and_the_bias_model() -> None:
    # EASE and item-kNN as every run logs them (mtrec.evaluation.baselines.compute_baselines).
    runs = _sweep().runs.copy()
    strong = {
        "baseline/bias/rmse": 0.95,
        "baseline/knn/rmse": 0.925,
        "baseline/ease/top_100_accuracy": 0.32,
        "baseline/ease/ndcg_at_10": 0.44,
        "baseline/ease/l2": 500.0,
    }
    for name, value in strong.items():
        runs[f"metrics.{name}"] = [value] * 3 + [math.nan]
    runs["metrics.test/ndcg_at_10"] = [0.4, 0.41, 0.42, math.nan]
    sweep = sweeps._to_sweep(runs.drop(columns=["job"]), "sweep s", with_histories=False)
    table = tables.summary_table(
        sweep, PARETO, metrics=["test/rmse", "test/top_100_accuracy", "test/ndcg_at_10"]
    )
    rows = table.set_index("job")
    assert list(rows.index[4:]) == [
        f"baseline: {p}" for p in ("bias", "ease", "global_mean", "knn", "popularity")
    ]
    assert rows.loc["baseline: knn", "test/rmse"] == 0.925 and rows.loc["baseline: bias", "test/rmse"] == 0.95
    assert rows.loc["baseline: ease", "test/top_100_accuracy"] == 0.32
    assert rows.loc["baseline: ease", "test/ndcg_at_10"] == 0.44
    assert math.isnan(rows.loc["baseline: popularity", "test/ndcg_at_10"])

    # The plot draws each as a labelled line: RMSE's on x (dashed), top-100's on y (dotted).
    (ax,) = plots.pareto_figure(sweep, tables.summary_table(sweep, PARETO), PARETO).axes
    labels = {t.get_text().strip() for t in ax.texts}
    assert {"bias", "knn", "global_mean", "ease", "popularity"} <= labels
    dashed = sorted(ln.get_xdata()[0] for ln in ax.get_lines() if ln.get_linestyle() == "--")
    dotted = sorted(ln.get_ydata()[0] for ln in ax.get_lines() if ln.get_linestyle() == ":")
    assert dashed == [0.925, 0.95, 1.13] and dotted == [0.3, 0.32]

    # One run's table: a column per predictor, each value beside its metric.
    text = tables.format_metrics("run", {"test/rmse": 0.9, "test/ndcg_at_10": 0.42, **strong})
    lines = text.splitlines()
    assert lines[1].split() == ["metric", "model", "bias", "ease", "knn"]
    assert lines[3].split() == ["test/rmse", "0.9000", "0.9500", "-", "0.9250"]
    assert lines[4].split() == ["test/ndcg_at_10", "0.4200", "-", "0.4400", "-"]


def test_a_retried_job_counts_by_its_last_run() -> None:
    runs = pd.DataFrame(
        {
            "run_id": ["dead", "other", "retry", "single"],
            "start_time": pd.to_datetime([1, 2, 3, 4], unit="s"),
            "status": ["KILLED", "FINISHED", "FINISHED", "FINISHED"],
            "tags.mlflow.runName": ["j0", "j1", "j0", "single run"],
            "tags.mtrec.sweep_id": ["s", "s", "s", None],
            "tags.mtrec.job_num": ["0", "1", "0", None],
        }
    )
    sweep = sweeps._to_sweep(runs, "sweep s", with_histories=False)
    assert list(sweep.runs["run_id"]) == ["other", "retry", "single"]
    assert sweep.failed_jobs() == []


def test_curves_give_each_job_one_colour_in_every_panel() -> None:
    runs = pd.DataFrame({"run_id": ["a", "b", "c"], "job": ["rating only", "retrieval only", "joint"]})
    losses = {
        "a": ["loss", "rating_loss"],
        "b": ["loss", "retrieval_loss"],
        "c": ["loss", "rating_loss", "retrieval_loss"],
    }
    histories = {r: {f"train/{n}": [(1, 2.0), (2, 1.0)] for n in names} for r, names in losses.items()}
    fig = plots.curves_figure(sweeps.Sweep(runs=runs, title="t", histories=histories))
    colours: dict[str, set] = {}
    for ax in fig.axes:
        for line in ax.get_lines():
            colours.setdefault(line.get_label(), set()).add(line.get_color())
    # The retrieval-only job is missing from the rating-loss panel; the joint job keeps its colour there.
    assert sorted(colours) == ["joint", "rating only", "retrieval only"]
    assert all(len(c) == 1 for c in colours.values())
    assert len(set.union(*colours.values())) == 3


def test_curves_label_log_ticks_as_plain_numbers() -> None:
    # A summed retrieval loss on a narrow range, where matplotlib labels ticks between the decades too.
    runs = pd.DataFrame({"run_id": ["a"], "job": ["joint"]})
    values = {
        "loss": (71_500.0, 67_000.0),
        "rating_loss": (1.3, 1.12),
        "retrieval_loss": (71_500.0, 67_000.0),
    }
    histories = {"a": {f"train/{k}": [(1, hi), (2, lo)] for k, (hi, lo) in values.items()}}
    fig = plots.curves_figure(sweeps.Sweep(runs=runs, title="t", histories=histories))
    fig.draw_without_rendering()
    for ax, (hi, lo) in zip(fig.axes, values.values(), strict=True):
        labels = ax.yaxis.get_ticklabels(which="both")
        shown = [(t.get_position()[1], t.get_text()) for t in labels if t.get_text()]
        shown = [(loc, text) for loc, text in shown if lo <= loc <= hi]
        assert len(shown) >= 2, ax.get_title()
        # No mathtext ("$7\\times10^{4}$"): each label reads back as the value at its tick, and no two repeat.
        assert all(float(text.replace(",", "")) == pytest.approx(loc, rel=1e-3) for loc, text in shown), shown
        assert len({text for _, text in shown}) == len(shown)
