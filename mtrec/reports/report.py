"""A sweep's report as files: the summary table (CSV, Markdown) and its plots."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mtrec.reports.plots import plot_curves, plot_pareto
from mtrec.reports.sweep import Sweep
from mtrec.reports.tables import summary_markdown, summary_table


def write_report(
    sweep: Sweep,
    folder: Path,
    pareto: Sequence[Any],
    reference: Sequence[float] | None = None,
    **table_options: Any,
) -> list[Path]:
    """Writes summary.csv, summary.md, pareto.png and curves.png; returns their paths.

    ``reference``: the hypervolume's reference point when the jobs belong to methods
    (:mod:`mtrec.reports.methods`); None: the jobs' worst values.
    """
    folder.mkdir(parents=True, exist_ok=True)
    table = summary_table(sweep, pareto, **table_options)
    files = [folder / "summary.csv", folder / "summary.md", folder / "pareto.png", folder / "curves.png"]
    table.to_csv(files[0], index=False)
    files[1].write_text(summary_markdown(sweep, pareto, reference, **table_options))
    plot_pareto(sweep, table, pareto, files[2], reference)
    plot_curves(sweep, files[3])
    return files
