"""Pareto sets over N objectives: the mask on hand-made points, the report's tables and plot, and a
real 3-objective multirun read back by mtrec-compare."""

from __future__ import annotations

import json
import math
import struct
import subprocess
import sys
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mtrec.config import ParetoObjective
from mtrec.reports import pareto, plots, tables
from mtrec.reports import sweep as sweeps
from tests.helpers import repo_env, run_mtrec
from tests.reports.test_report import PARETO, _sweep

MIN3 = ("min", "min", "min")
THREE = [*PARETO, ParetoObjective("test/ndcg_at_10", "max")]
nan = math.nan


def brute_force_mask(points: list[tuple[float, ...]], goals: tuple[str, ...]) -> list[bool]:
    """The definition, pair by pair: the reference the vectorised mask must equal."""
    signs = [1 if g == "min" else -1 for g in goals]
    costs = [tuple(v * s for v, s in zip(p, signs)) for p in points]

    def dominates(b: tuple[float, ...], a: tuple[float, ...]) -> bool:
        return all(y <= x for x, y in zip(a, b)) and any(y < x for x, y in zip(a, b))

    def has_nan(p: tuple[float, ...]) -> bool:
        return any(math.isnan(v) for v in p)

    return [not has_nan(a) and not any(dominates(b, a) for b in costs if not has_nan(b)) for a in costs]


def test_three_objectives_on_hand_made_points() -> None:
    points = [
        (1.0, 0.2, 0.05),  # on the front
        (1.0, 0.2, 0.04),  # ties the first on two objectives, worse on the third: dominated
        (0.9, 0.1, 0.01),  # the best RMSE
        (1.1, 0.3, 0.01),  # the best accuracy
        (1.2, 0.1, 0.06),  # the best NDCG
        (1.2, 0.1, 0.05),  # dominated by the one above
        (1.05, 0.15, 0.03),  # dominated by the first on all three
    ]
    assert pareto.pareto_mask(points, ("min", "max", "max")) == [True, False, True, True, True, False, False]


def test_the_front_is_n_dimensional_not_the_pairwise_fronts() -> None:
    # (1, 1, 1) is beaten in every pair of objectives, each time by a point that pays with a 5 in
    # the third: it is on the 3-objective front, and on none of the three 2-objective ones.
    points = [(1.0, 1.0, 1.0), (0.0, 0.0, 5.0), (0.0, 5.0, 0.0), (5.0, 0.0, 0.0)]
    assert pareto.pareto_mask(points, MIN3) == [True, True, True, True]
    for pair in combinations(range(3), 2):
        projected = [tuple(p[i] for i in pair) for p in points]
        assert not pareto.pareto_mask(projected, ("min", "min"))[0], pair


def test_ties_all_equal_and_nan() -> None:
    assert pareto.pareto_mask([(1.0, 2.0, 3.0), (1.0, 2.0, 3.0)], MIN3) == [True, True]
    assert pareto.pareto_mask([(1.0, 2.0, 3.0)] * 5, MIN3) == [True] * 5
    assert pareto.pareto_mask([(1.0, 2.0, 3.0), (1.0, 2.0, 4.0)], MIN3) == [True, False]
    # Equal points both dominated by a third.
    assert pareto.pareto_mask([(2.0, 2.0, 2.0), (2.0, 2.0, 2.0), (1.0, 2.0, 2.0)], MIN3) == [
        False,
        False,
        True,
    ]
    # A point with a NaN is never on the front, and dominates nothing.
    assert pareto.pareto_mask([(nan, 0.0, 0.0), (1.0, 1.0, 1.0)], MIN3) == [False, True]
    assert pareto.pareto_mask([(0.0, 0.0, nan), (1.0, 1.0, 1.0)], MIN3) == [False, True]
    assert pareto.pareto_mask([(nan, nan, nan)] * 3, MIN3) == [False] * 3
    assert pareto.pareto_mask([], MIN3) == []
    assert pareto.pareto_mask(np.array([[1.0, 1.0, 1.0], [0.0, 2.0, 2.0]]), MIN3) == [True, True]


def test_bad_goals_and_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="goals must each be 'min' or 'max'"):
        pareto.pareto_mask([(1.0, 2.0, 3.0)], ("min", "max", "lowest"))
    with pytest.raises(ValueError, match=r"points must be \[num_points, 3\]"):
        pareto.pareto_mask([(1.0, 2.0)], MIN3)


@pytest.mark.parametrize("block_cells,max_rows", [(1, 256), (1 << 23, 7), (1 << 23, 256)])
def test_vectorised_mask_equals_the_definition(block_cells: int, max_rows: int, monkeypatch) -> None:
    # Integer values give many ties; a few NaNs; steps of one point, of a few, of all at once.
    monkeypatch.setattr(pareto, "_BLOCK_CELLS", block_cells)
    monkeypatch.setattr(pareto, "_MAX_BLOCK_ROWS", max_rows)
    rng = np.random.default_rng(7)
    for num_objectives in (2, 3, 4):
        values = rng.integers(0, 6, size=(150, num_objectives)).astype(float)
        values[rng.random(values.shape) < 0.02] = nan
        goals = tuple(rng.choice(["min", "max"], num_objectives))
        points = [tuple(row) for row in values]
        assert pareto.pareto_mask(values, goals) == brute_force_mask(points, goals)


def _three_objective_sweep() -> sweeps.Sweep:
    runs = _sweep().runs.copy()
    # j2 is dominated on RMSE and accuracy (by j1) but has the best NDCG.
    runs["metrics.test/ndcg_at_10"] = [0.03, 0.04, 0.05, nan]
    return sweeps._to_sweep(runs.drop(columns=["job"]), "sweep s", with_histories=False)


def test_summary_with_three_objectives_lists_every_objective() -> None:
    sweep = _three_objective_sweep()
    table = tables.summary_table(sweep, THREE)
    assert list(table["pareto"]) == ["yes", "yes", "yes", "", "", ""]
    assert list(tables.summary_table(sweep, PARETO)["pareto"]) == ["yes", "yes", "", "", "", ""]
    text = tables.summary_markdown(sweep, THREE)
    assert "Pareto set (min test/rmse / max test/top_100_accuracy / max test/ndcg_at_10):\n" in text
    assert "- j2: test/rmse=1.2000, test/top_100_accuracy=0.1500, test/ndcg_at_10=0.0500\n" in text
    assert "| j2 | 0.5 | 1.0 | 0.1 | 1.2000 | 0.1500 | 0.0500 | 5.0000 | FINISHED | yes |" in text


def test_two_objectives_plot_one_scatter_with_the_front_joined() -> None:
    sweep = _sweep()
    fig = plots.pareto_figure(sweep, tables.summary_table(sweep, PARETO), PARETO)
    (ax,) = fig.axes
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("test/rmse (min)", "test/top_100_accuracy (max)")
    (front,) = [line for line in ax.get_lines() if line.get_label() == "Pareto front"]
    assert list(front.get_xdata()) == [1.0, 1.1]


def test_three_objectives_plot_a_scatter_matrix() -> None:
    sweep = _three_objective_sweep()
    fig = plots.pareto_figure(sweep, tables.summary_table(sweep, THREE), THREE)
    (top, corner), (bottom_left, bottom_right) = fig.axes[0:2], fig.axes[2:4]
    assert not corner.axison and corner.get_legend() is not None  # the empty corner holds the legend
    # Each pair of objectives once; labels on the outer edges only (the axes are shared).
    assert (top.get_xlabel(), top.get_ylabel()) == ("", "test/top_100_accuracy (max)")
    assert (bottom_left.get_xlabel(), bottom_left.get_ylabel()) == (
        "test/rmse (min)",
        "test/ndcg_at_10 (max)",
    )
    assert (bottom_right.get_xlabel(), bottom_right.get_ylabel()) == ("test/top_100_accuracy (max)", "")
    for ax in (top, bottom_left, bottom_right):
        others, front = ax.collections  # the blue jobs (here only the FAILED one, at NaN), then the red front
        assert len(others.get_offsets()) == 1 and len(front.get_offsets()) == 3
        assert {"j0", "j1", "j2"} <= {t.get_text() for t in ax.texts}

    # The baselines where the 2-D plot draws them: an x metric's as vertical dashed lines, a y
    # metric's as horizontal dotted ones; NDCG has none.
    def lines(ax, style: str, axis: int) -> list[float]:
        return [ln.get_data()[axis][0] for ln in ax.get_lines() if ln.get_linestyle() == style]

    assert lines(top, "--", 0) == [1.13] and lines(top, ":", 1) == [0.3]
    assert lines(bottom_left, "--", 0) == [1.13] and lines(bottom_left, ":", 1) == []
    assert lines(bottom_right, "--", 0) == [0.3] and lines(bottom_right, ":", 1) == []


def _png_size(path: Path) -> tuple[int, int]:
    width, height = struct.unpack(">II", path.read_bytes()[16:24])
    return width, height


@pytest.mark.slow
def test_a_three_objective_multirun_reports_and_compares(tmp_path: Path) -> None:
    goals = {"test/rmse": "min", "test/top_10_accuracy": "max", "test/ndcg_at_10": "max"}
    objectives = "[" + ",".join(f"{{metric:{m},goal:{g}}}" for m, g in goals.items()) + "]"
    out = run_mtrec(
        tmp_path,
        "-m",
        "experiment=smoke",
        "loss.retrieval_weight=0.1,1,2",
        "tracking.log_model=false",
        f"sweep.pareto={objectives}",
        "hydra.sweep.dir=sweep",
    )
    assert out.returncode == 0, out.stderr[-3000:]
    folder = tmp_path / "sweep"
    summary = (folder / "summary.md").read_text()
    assert summary in out.stdout
    assert "Pareto set (min test/rmse / max test/top_10_accuracy / max test/ndcg_at_10):\n" in summary
    front_lines = [line for line in summary.splitlines() if line.startswith("- rating=")]
    assert front_lines and all(
        ", test/top_10_accuracy=" in line and ", test/ndcg_at_10=" in line for line in front_lines
    )
    # The flags are the 3-objective front of the table's own numbers.
    table = pd.read_csv(folder / "summary.csv", keep_default_na=False, na_values=[""])
    jobs = table[table["status"] == "FINISHED"]
    assert len(jobs) == 3
    points = jobs[["test/rmse", "test/top_10_accuracy", "test/ndcg_at_10"]].to_numpy()
    assert (jobs["pareto"] == "yes").tolist() == brute_force_mask(
        [tuple(p) for p in points], ("min", "max", "max")
    )
    # The scatter matrix's size (2 x 2 panels), not the 2-objective plot's 960 x 720.
    assert _png_size(folder / "pareto.png") == (1008, 912)

    sweep_id = json.loads((folder / "mtrec_sweep.json").read_text())["sweep_id"]
    repeated = [
        "--pareto",
        "test/rmse:min",
        "--pareto",
        "test/top_10_accuracy:max",
        "--pareto",
        "test/ndcg_at_10:max",
    ]
    for flags in (repeated, ["--pareto", "test/rmse:min,test/top_10_accuracy:max", *repeated[-2:]]):
        compare = subprocess.run(
            [sys.executable, "-m", "mtrec.app.compare", "--sweep", sweep_id, *flags, "--output", "again"],
            cwd=tmp_path,
            env=repo_env(),
            capture_output=True,
            text=True,
        )
        assert compare.returncode == 0, compare.stderr
        assert compare.stdout == summary
        assert (tmp_path / "again" / "summary.md").read_text() == summary
        assert _png_size(tmp_path / "again" / "pareto.png") == (1008, 912)


def test_point_labels_keep_what_differs_and_name_what_is_shared() -> None:
    jobs = ["retrieval=1 like=0.1 tasks=w", "retrieval=1 like=1 tasks=w", "retrieval=1 like=10 tasks=w"]
    assert plots.point_labels(jobs) == (["like=0.1", "like=1", "like=10"], "retrieval=1 tasks=w")
    # Nothing shared: the names as they are; a name made only of shared words keeps its full form.
    assert plots.point_labels(["a=1", "b=2"]) == (["a=1", "b=2"], "")
    assert plots.point_labels(["a=1 b=2", "a=1 b=2 c=3"]) == (["a=1 b=2", "c=3"], "a=1 b=2")
    assert plots.point_labels(["only"]) == (["only"], "")
