"""Methods compared in one sweep: hypervolume on hand-made fronts, each method's own front."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from mtrec.config.schema import ParetoObjective
from mtrec.reports.methods import hypervolume, methods_markdown, reference_point, summarize


def test_a_two_objective_staircase() -> None:
    points = [(1, 3), (2, 2), (3, 1)]
    assert hypervolume(points, ["min", "min"], (4, 4)) == pytest.approx(6.0)
    # A dominated point, a duplicate and a NaN row add nothing.
    more = [*points, (3, 3), (2, 2), (math.nan, 0)]
    assert hypervolume(more, ["min", "min"], (4, 4)) == pytest.approx(6.0)
    # The same front for maximised objectives, mirrored.
    assert hypervolume([(3, 1), (2, 2), (1, 3)], ["max", "max"], (0, 0)) == pytest.approx(6.0)


def test_rmse_down_and_accuracy_up() -> None:
    # [1.0, 1.5] x [0.1, 0.3] and [1.2, 1.5] x [0.1, 0.4] overlap in [1.2, 1.5] x [0.1, 0.3].
    volume = hypervolume([(1.0, 0.3), (1.2, 0.4)], ["min", "max"], (1.5, 0.1))
    assert volume == pytest.approx(0.1 + 0.09 - 0.06)


def test_points_not_better_than_the_reference_add_nothing() -> None:
    assert hypervolume([(1, 5)], ["min", "min"], (4, 4)) == 0.0
    assert hypervolume([(4, 1)], ["min", "min"], (4, 4)) == 0.0  # on the reference: no volume
    assert hypervolume(np.empty((0, 2)), ["min", "max"], (1, 0)) == 0.0


def test_three_objectives_by_hand() -> None:
    assert hypervolume([(1, 1, 1)], ["min"] * 3, (2, 3, 4)) == pytest.approx(6.0)
    # Boxes of 4 and 2 that share a unit cube.
    assert hypervolume([(0, 0, 1), (1, 1, 0)], ["min"] * 3, (2, 2, 2)) == pytest.approx(5.0)


def brute_force(points: np.ndarray, reference: np.ndarray) -> float:
    """The volume dominated, summed over the cells of the grid the points' coordinates make."""
    axes = [np.unique(np.append(points[:, d], reference[d])) for d in range(points.shape[1])]
    total = 0.0
    for cell in itertools.product(*(range(len(a) - 1) for a in axes)):
        low = np.array([axes[d][i] for d, i in enumerate(cell)])
        high = np.array([axes[d][i + 1] for d, i in enumerate(cell)])
        if (points <= low).all(axis=1).any():
            total += float(np.prod(high - low))
    return total


@pytest.mark.parametrize("objectives", [2, 3, 4])
def test_random_fronts_against_brute_force(objectives: int) -> None:
    rng = np.random.default_rng(objectives)
    for _ in range(5):
        points = rng.integers(0, 6, size=(7, objectives)).astype(float)  # ties included
        reference = np.full(objectives, 6.0)
        expected = brute_force(points, reference)
        assert hypervolume(points, ["min"] * objectives, reference) == pytest.approx(expected)


PARETO = [ParetoObjective("test/rmse", "min"), ParetoObjective("test/acc", "max")]


def table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "job": ["g1", "g2", "s1", "s2", "s3", "baseline: popularity"],
            "method": ["grid", "grid", "search", "search", "search", None],
            "test/rmse": [1.0, 1.2, 0.9, 1.1, 0.5, math.nan],
            "test/acc": [0.3, 0.4, 0.2, 0.1, 0.9, 0.5],
            "status": ["FINISHED"] * 4 + ["FAILED", "baseline"],
        }
    )


def test_each_method_has_its_own_front_and_volume_from_the_finished_jobs() -> None:
    point = reference_point(table(), PARETO)
    assert point == [1.2, 0.1]  # the worst finished values; the failed job's 0.5/0.9 left out
    grid, search = summarize(table(), PARETO, point)
    assert (grid.method, grid.jobs, grid.finished, grid.front) == ("grid", 2, 2, ["g1", "g2"])
    assert grid.hypervolume == pytest.approx(0.2 * 0.2 + 0.0)  # g2 sits on the rmse reference
    assert (search.method, search.jobs, search.finished, search.front) == ("search", 3, 2, ["s1"])
    assert search.hypervolume == pytest.approx(0.3 * 0.1)  # s2 is on the accuracy reference
    assert reference_point(table(), PARETO, [2.0, 0.0]) == [2.0, 0.0]
    lines = methods_markdown([grid, search], PARETO, point)
    assert lines[0] == "Hypervolume by method (reference point: test/rmse=1.2000, test/acc=0.1000):"
    assert lines[-1] == "| search | 3 | 2 | 1 | 0.03 |"
