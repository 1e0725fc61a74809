"""Human-readable result tables."""

from __future__ import annotations

from collections.abc import Mapping


def format_metrics(title: str, metrics: Mapping[str, float]) -> str:
    """A two-column table of ``split/metric`` names and values, in the order given."""
    width = max(len(name) for name in metrics)
    lines = [title, "-" * (width + 12)]
    lines += [f"{name:<{width}}  {value:>10.4f}" for name, value in metrics.items()]
    return "\n".join(lines)
