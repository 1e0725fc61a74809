"""Where each task's labels come from: a column of the interactions, maybe thresholded, maybe masked."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mtrec.data.interactions import Interactions


@dataclass(frozen=True)
class TaskLabels:
    """A task's name, kind and label rule (the data-side half of ``tasks.<name>``).

    Attributes:
      name: the task's name (its masks are keyed by it).
      kind: ``retrieval``, ``regression`` or ``binary``.
      label: the column its label comes from; None (retrieval only): every row is a positive.
      threshold: binary and retrieval: positive when ``column >= threshold``; None: a binary
        label is the column itself, a retrieval row is positive when the column is > 0.
      metric_prefix: put before the task's metric names ("" for the tutorial's two tasks).
    """

    name: str
    kind: str
    label: str | None = None
    threshold: float | None = None
    metric_prefix: str = ""

    def values(self, data: Interactions) -> np.ndarray:
        """[n] float32 labels: the column (regression) or 0/1 (binary)."""
        if self.label is None:
            raise ValueError(f"task {self.name} has no label column")
        column = data.column(self.label)
        if self.kind == "binary" and self.threshold is not None:
            return (column >= self.threshold).astype(np.float32)
        return np.asarray(column, dtype=np.float32)

    def positive_rows(self, data: Interactions) -> Interactions:
        """The rows a retrieval task learns from and is evaluated on (every row without a label)."""
        if self.label is None:
            return data
        column = data.column(self.label)
        positive = column >= self.threshold if self.threshold is not None else column > 0
        return data.take(np.flatnonzero(positive))

    def labelled_rows(self, data: Interactions) -> Interactions:
        """The rows whose label the task may learn from (all of them unless its labels are masked)."""
        if self.name not in data.masks:
            return data
        return data.take(np.flatnonzero(data.masks[self.name]))
