"""Which config keys define a run: one list, used by run names, fingerprints and reports.

A run is defined by what it computes. The keys below change only where or how a run is recorded
and reported, so two configs that differ only in them are the same run: resume skips one when
the other FINISHED, reports do not show them as swept, and run names leave them out.
"""

from __future__ import annotations

NOT_RUN_DEFINING = ("tracking", "sweep", "objectives", "dry_run", "trainer.verbose", "baselines", "trial")
"""Keys (or whole sections) that never change what a run computes. ``baselines`` only adds
reference numbers fitted apart from the model (the model's own metrics never change with it), so
runs finished before a baseline existed are still found by resume. ``trial`` links a job to its
Optuna trial."""

DATA_LOCATION = (
    "dataset.path",
    "dataset.columns",
    "dataset.items",
    "dataset.users",
    "dataset.format",
    "dataset.encoding",
)
"""Where the data is read from and how a table's columns map: part of a run's identity (another
file may hold other data), but a machine's path or a file's layout rather than a choice, so
names and report columns leave them out (the run's ``mtrec.dataset.*`` tags name the table)."""


def matches(key: str, prefixes: tuple[str, ...]) -> bool:
    """Whether ``key`` (``a.b.c``) is one of ``prefixes`` or lies inside one of them."""
    return any(key == p or key.startswith(f"{p}.") for p in prefixes)


def defines_run(key: str) -> bool:
    """Whether a change of ``key`` changes what a run computes (its fingerprint)."""
    return not matches(key, NOT_RUN_DEFINING)


def is_shown(key: str) -> bool:
    """Whether a report shows ``key`` as a column when jobs differ in it."""
    return defines_run(key) and not matches(key, DATA_LOCATION)


def named_override(override: str) -> bool:
    """Whether a run's name shows this command-line override (``key=value``, ``+key=value``).

    Names start with the tasks' weights, so ``loss`` and ``tasks.<name>.weight`` overrides are
    shown that way, except the learned weighting's keys (:data:`LEARNED_WEIGHTING`), which the
    weights do not show; recipes (``experiment``, ``hparams_search``) show through the keys they
    set, if at all.
    """
    key = override.lstrip("+~").split("=", 1)[0]
    if key in LEARNED_WEIGHTING:
        return True
    is_weight = key.startswith("tasks.") and key.endswith(".weight")
    return is_shown(key) and not is_weight and not matches(key, ("loss", "experiment", "hparams_search"))


LEARNED_WEIGHTING = ("loss.weighting", "loss.gradnorm_alpha")
"""``loss`` keys a run's name shows: with learned weights the tasks' weights are only the start."""
