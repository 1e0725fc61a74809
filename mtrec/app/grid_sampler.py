"""Optuna's grid sampler for an ask-and-tell loop (``hydra/sweeper/sampler=grid``).

``optuna.samplers.GridSampler.after_trial`` calls ``Study.stop()`` once every point of the grid
has been asked, which raises outside ``Study.optimize`` (checked with optuna 5.1.0). mtrec's
sweeper asks and tells and stops at ``n_trials`` itself, so this sampler leaves stopping to it;
it asks exactly as Optuna's does (each unvisited point once, resumed studies included).
"""

from __future__ import annotations

from collections.abc import Sequence

import optuna
from optuna.trial import FrozenTrial, TrialState


class GridSampler(optuna.samplers.GridSampler):
    """``optuna.samplers.GridSampler``, without the stop after the last point."""

    def after_trial(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        pass
