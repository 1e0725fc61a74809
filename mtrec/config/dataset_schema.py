"""The dataset section's typed schema (``dataset``: the source, its columns and catalogues, the
split). Part of :mod:`mtrec.config.schema`, which re-exports every name; the string under a field
is its documentation, as there."""

from __future__ import annotations

from dataclasses import dataclass, field

from omegaconf import MISSING

DATASET_KINDS = ("movielens", "synthetic", "funnel", "table")
SPLITS = ("random", "temporal", "leave_last_out")
DUPLICATES = ("error", "keep", "drop")
TABLE_FORMATS = ("csv", "tsv", "parquet")


@dataclass
class ColumnsConfig:
    """A table source's columns, by name (``dataset=table``)."""

    user: str = "user_id"
    """The user id column (integers or text; ids become strings, as MovieLens's are)."""
    item: str = "item_id"
    """The item id column (integers or text, e.g. titles); items are the model's "movies"."""
    rating: str | None = None
    """The rating column; null: every row is a positive interaction (rating 1), so only the
    retrieval task can train (``loss=retrieval_only``)."""
    timestamp: str | None = None
    """The time column: Unix seconds, ISO 8601 text (``2024-03-01 12:00:00``), a date or a
    Parquet timestamp; null: row order (then only ``dataset.split=random``)."""
    labels: list[str] = field(default_factory=list)
    """Further numeric (or true/false) columns kept beside the rating, e.g. ``[clicked,
    watch_seconds]``, for tasks that take their labels from columns."""
    rating_range: list[float] | None = None
    """``[low, high]``, inclusive: a rating outside it stops the run naming its row; null:
    unchecked."""
    label_ranges: dict[str, list[float]] = field(default_factory=dict)
    """Label column -> ``[low, high]``, checked like ``rating_range``, e.g. ``{clicked: [0, 1]}``."""


@dataclass
class CatalogConfig:
    """An item or user catalog of a table source: one row per id, with feature columns."""

    path: str | None = None
    """A CSV, TSV or Parquet file (or folder); null: no catalog."""
    id: str = "id"
    """The column holding the ids that the table's item (or user) column holds."""
    categorical: list[str] = field(default_factory=list)
    """Columns encoded one-hot over their distinct values."""
    multi_valued: list[str] = field(default_factory=list)
    """Columns of several values in a cell (``Comedy|Drama``), encoded multi-hot."""
    numeric: list[str] = field(default_factory=list)
    """Numeric columns, standardised over the catalog (an empty cell becomes the mean)."""
    separator: str = "|"
    """What separates the values of a ``multi_valued`` cell."""


@dataclass
class DatasetConfig:
    """Where interactions come from and how they are split (``dataset=...``)."""

    name: str = MISSING
    """The dataset's name, shown in messages and logged with every run."""
    kind: str = "movielens"
    """``movielens`` (GroupLens files or TFDS), ``synthetic`` (generated ratings), ``funnel``
    (generated impressions with ``click`` and ``purchase`` columns) or ``table`` (your own CSV,
    TSV or Parquet file: ``dataset=table``)."""
    tfds_name: str = "movielens/100k"
    """The TFDS name read when ``path`` is unset: ``{tfds_name}-ratings`` and ``-movies``."""
    path: str | None = None
    """An unpacked GroupLens archive (ml-100k, ml-1m, ml-20m, ml-25m), read instead of TFDS; for
    ``kind=table``, the table: a CSV, TSV or Parquet file, or a folder of files with the same
    columns."""
    data_dir: str | None = None
    """TFDS's data folder (TFDS's default when unset)."""
    test_fraction: float = 0.2
    """Share of the rows held out as the test split (the tutorial's 80/20 split); not used by
    ``split=leave_last_out``."""
    split: str = "random"
    """How test (and validation) rows are chosen: ``random`` (the tutorial's seeded permutation),
    ``temporal`` (the latest rows by timestamp: no test row is earlier than a training row) or
    ``leave_last_out`` (each user's ``leave_out`` latest rows; users with no more rows than that
    stay in training)."""
    leave_out: int = 1
    """``split=leave_last_out``: rows held out per user (for test, and again for validation)."""
    split_seed: int = 42
    """Seed of the train/test permutation (and of the validation carve-out, and of synthetic data)."""
    rating_fraction: float = 1.0
    """Share of training rows whose rating label the model may use (sampled by ``trainer.seed``);
    the others still train retrieval but add no rating loss. 1.0 keeps every label."""
    num_users: int = 0
    """Synthetic and funnel data only: how many users."""
    num_movies: int = 0
    """Synthetic and funnel data only: how many movies (items)."""
    num_interactions: int = 0
    """Synthetic and funnel data only: how many rows (ratings; impressions)."""
    num_factors: int = 8
    """Synthetic and funnel data only: latent factors (and genres) behind the labels."""
    click_rate: float = 0.1
    """Funnel data only: the share of impressions that are clicked."""
    purchase_rate: float = 0.01
    """Funnel data only: the share of impressions that are bought (always after a click)."""
    columns: ColumnsConfig = field(default_factory=ColumnsConfig)
    """Table only: which columns hold the user, item, rating, timestamp and labels."""
    items: CatalogConfig = field(default_factory=CatalogConfig)
    """Table only: the item catalog (side features for ``model.movie_features``; items it alone
    lists are retrieval candidates too)."""
    users: CatalogConfig = field(default_factory=CatalogConfig)
    """Table only: the user catalog (side features for ``model.user_features``)."""
    duplicates: str = "error"
    """Table only: a repeated (user, item) pair ``error`` (stop, naming both rows), ``keep``
    (every row counts, as MovieLens keeps a title rated twice) or ``drop`` (only each pair's
    latest row stays)."""
    format: str | None = None
    """Table only: ``csv``, ``tsv`` or ``parquet``; null: from each file's name."""
    encoding: str = "utf-8"
    """Table only: the text encoding of CSV and TSV files."""
