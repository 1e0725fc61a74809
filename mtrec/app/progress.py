"""A multirun's progress line: ``job 3/9 done, 1m12s elapsed, ETA 2m24s``.

Printed by the sweep callback (:mod:`mtrec.app.sweep_callback`) after each job, when Hydra's basic
launcher runs the jobs one after another in this process; other launchers' workers each hold a
copy of the callback and cannot count the sweep's jobs. The number of jobs comes from the sweep's
overrides and ``hydra.sweeper.params`` (choices and ranges), or an Optuna sweeper's
``n_trials``; a sweep it cannot count (``glob(...)``) shows the jobs done and the time only.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException


def count_jobs(overrides: Iterable[str]) -> int | None:
    """The number of jobs a basic sweep of these overrides runs; None when it cannot be told."""
    num_jobs = 1
    try:
        for override in OverridesParser.create().parse_overrides(list(overrides)):
            if override.is_choice_sweep() or override.is_range_sweep():
                num_jobs *= len(list(override.sweep_string_iterator()))
            elif override.is_sweep_override():
                return None  # an interval: a search space, not a list of jobs
    except HydraException:  # glob(...) needs Hydra's config loader
        return None
    return num_jobs


def duration(seconds: float) -> str:
    """``1h02m``, ``3m05s`` or ``42s``."""
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


@dataclass
class SweepProgress:
    """Counts a sweep's ended jobs and estimates the time left from their mean duration so far."""

    num_jobs: int | None
    started: float = field(default_factory=time.monotonic)
    done: int = 0

    def job_ended(self, now: float | None = None) -> str:
        self.done += 1
        elapsed = (time.monotonic() if now is None else now) - self.started
        if self.num_jobs is None:
            return f"job {self.done} done, {duration(elapsed)} elapsed"
        left = max(self.num_jobs - self.done, 0)
        eta = elapsed / self.done * left if left else 0.0
        return (
            f"job {self.done}/{self.num_jobs} done, {duration(elapsed)} elapsed, "
            f"ETA {duration(eta) if math.isfinite(eta) else '?'}"
        )
