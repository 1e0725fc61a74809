"""Interaction sources: GroupLens files (:mod:`mtrec.data.grouplens`), TFDS (:mod:`mtrec.data.tfds`),
synthetic data (:mod:`mtrec.data.synthetic`) and a user's own table (:mod:`mtrec.data.table`).

Each reader returns the same :class:`~mtrec.data.interactions.Interactions`, with the tutorial's
vocabularies (sorted unique strings, 1-based indices) and the side features of
:mod:`mtrec.data.features`; :func:`load_interactions` picks the reader.
"""

from __future__ import annotations

from mtrec.data.grouplens import read_grouplens
from mtrec.data.interactions import DataError, Interactions
from mtrec.data.table import TableSpec, read_table


def load_interactions(
    *,
    kind: str,
    path: str | None = None,
    tfds_name: str = "movielens/100k",
    data_dir: str | None = None,
    num_users: int = 0,
    num_movies: int = 0,
    num_interactions: int = 0,
    num_factors: int = 8,
    click_rate: float = 0.1,
    purchase_rate: float = 0.01,
    seed: int = 42,
    table: TableSpec | None = None,
) -> Interactions:
    """Reads (or generates) a dataset's interactions.

    Args:
      kind: ``"movielens"`` (``path`` when given, else TFDS's ``tfds_name``), ``"synthetic"`` or
        ``"funnel"`` (impressions with clicks and purchases) or ``"table"`` (``table``).
      path: an unpacked GroupLens archive.
      tfds_name: the TFDS name, e.g. ``"movielens/100k"``.
      data_dir: TFDS's data folder.
      num_users, num_movies, num_interactions, num_factors: the synthetic data's sizes.
      click_rate, purchase_rate: the funnel's rates (per impression).
      seed: the synthetic data's seed.
      table: a table source's path and columns.

    Raises:
      DataError: unreadable data (named by file and line), or TFDS unable to get it.
    """
    if kind == "table":
        if table is None:
            raise DataError("dataset.kind=table needs a table (dataset.path and dataset.columns)")
        return read_table(table)
    if kind == "synthetic":
        from mtrec.data.synthetic import make_synthetic

        return make_synthetic(num_users, num_movies, num_interactions, num_factors, seed)
    if kind == "funnel":
        from mtrec.data.funnel import make_funnel

        return make_funnel(
            num_users, num_movies, num_interactions, num_factors, click_rate, purchase_rate, seed
        )
    if path:
        return read_grouplens(path)
    from mtrec.data.tfds import read_tfds  # TensorFlow loads only when TFDS is read.

    return read_tfds(tfds_name, data_dir)
