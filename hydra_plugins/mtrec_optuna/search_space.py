"""Search spaces in hydra-optuna-sweeper's syntax, parsed by Hydra's public override parser.

``interval(a, b)`` is a float (an int when both ends are ints), ``tag(log, interval(a, b))`` the
same on a log scale, ``choice(...)`` a categorical, ``range(start, stop[, step])`` an int with a
step (a categorical of its values when they are not ints); any other value is fixed for every
trial. No ``from __future__ import annotations``: Hydra executes plugin modules before it
registers them (see :mod:`hydra_plugins.mtrec_sweeper.mtrec_sweeper`). Nor does it import Optuna
at the top: Hydra's plugin scan executes this module in every ``mtrec`` process, sweep or not, so
Optuna is imported by the functions that build distributions (annotations name it as strings).
"""

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, Override, RangeSweep

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution


class SearchSpaceError(ValueError):
    """A search space that cannot be searched; the message names the key and the fix."""


def parse(
    params: Mapping[str, Any], arguments: Iterable[str]
) -> "tuple[dict[str, BaseDistribution], list[str]]":
    """Splits ``hydra.sweeper.params`` and the command line into a search space and fixed overrides.

    Args:
      params: ``hydra.sweeper.params``: key -> search expression (or a fixed value).
      arguments: the command line's overrides; a sweep among them is searched as well.

    Returns:
      The distributions by key, and the fixed overrides (``key=value``) every trial gets.

    Raises:
      SearchSpaceError: an expression that is no distribution (``glob``, an empty choice, a
        reversed interval), or an unparsable one.
    """
    parser = OverridesParser.create()
    lines = [f"{key}={value}" for key, value in (params or {}).items()]
    try:
        overrides = parser.parse_overrides([*lines, *arguments])
    except Exception as e:  # Hydra's OverrideParseException and friends
        raise SearchSpaceError(f"hydra.sweeper.params: {str(e).splitlines()[0]}") from e
    space: dict[str, BaseDistribution] = {}
    fixed: list[str] = []
    for override in overrides:
        if override.is_sweep_override():
            space[override.get_key_element()] = distribution(override)
        else:
            fixed.append(override.input_line or f"{override.get_key_element()}={override.get_value_string()}")
    return space, fixed


def distribution(override: Override) -> "BaseDistribution":
    """The Optuna distribution of one sweep override (``key=interval(0, 1)``, ...)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    key, value = override.get_key_element(), override.value()
    if isinstance(value, ChoiceSweep):
        choices = [_plain(c) for c in value.list]
        if not choices:
            raise SearchSpaceError(f"hydra.sweeper.params.{key}: choice() needs at least one value")
        return CategoricalDistribution(choices)
    if isinstance(value, RangeSweep):
        start, stop, step = value.start, value.stop, value.step
        if (
            isinstance(start, int)
            and isinstance(stop, int)
            and isinstance(step, int)
            and step > 0
            and stop > start
        ):
            return IntDistribution(start, stop - 1 - (stop - 1 - start) % step, step=step)
        values = list(override.sweep_iterator())
        if not values:
            raise SearchSpaceError(f"hydra.sweeper.params.{key}: range({start}, {stop}, {step}) is empty")
        return CategoricalDistribution([_plain(v) for v in values])
    if isinstance(value, IntervalSweep):
        low, high, log = value.start, value.end, "log" in value.tags
        if low is None or high is None or low >= high or (log and low <= 0):
            need = "0 < low < high" if log else "low < high"
            raise SearchSpaceError(f"hydra.sweeper.params.{key}: interval({low}, {high}) needs {need}")
        unknown = set(value.tags) - {"log", "int"}
        if unknown:
            raise SearchSpaceError(f"hydra.sweeper.params.{key}: unknown tag(s) {sorted(unknown)}; use log")
        if isinstance(low, int) and isinstance(high, int) or "int" in value.tags:
            return IntDistribution(int(low), int(high), log=log)
        return FloatDistribution(float(low), float(high), log=log)
    raise SearchSpaceError(
        f"hydra.sweeper.params.{key}: {override.get_value_string()} is no search space; "
        "use interval(a, b), tag(log, interval(a, b)), choice(...) or range(...)"
    )


def _plain(value: Any) -> bool | int | float | str | None:
    """A choice as Optuna can store it (None, bool, int, float or str)."""
    return value if value is None or isinstance(value, bool | int | float | str) else str(value)


def as_override(key: str, value: Any) -> str:
    """The command-line override that sets ``key`` to a sampled value."""
    if isinstance(value, str):
        return f"{key}={value}"
    if isinstance(value, bool):
        return f"{key}={str(value).lower()}"
    return f"{key}={'null' if value is None else value}"
