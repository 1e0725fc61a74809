"""New SQLite MLflow stores, created from a schema template instead of MLflow's migrations.

MLflow creates a new store's schema by running every one of its alembic migrations in turn:
about 3 s of Python on a 2-core machine, paid by each new ``sqlite:///`` store (a new project, a
test's temporary store, a benchmark's fresh one). One MLflow version always creates the same
tables, indexes and constraints, so mtrec has MLflow create them once, in an empty template file
under the user's cache folder, and copies that file to each new store's path. MLflow still opens
the copy the usual way: it checks the schema's revision against its newest and creates the
default experiment, with the artifact location of the process that opens it. Nothing else is in
the template.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import mlflow

log = logging.getLogger("mtrec")


def cache_dir() -> Path:
    """``$MTREC_CACHE_DIR``, else ``$XDG_CACHE_HOME/mtrec``, else ``~/.cache/mtrec``."""
    if os.environ.get("MTREC_CACHE_DIR"):
        return Path(os.environ["MTREC_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mtrec"


def template_path() -> Path:
    """Where this MLflow version's empty-store template lives (one per version: migrations change)."""
    return cache_dir() / f"mlflow-{mlflow.__version__}-empty.db"


def make_template() -> Path:
    """This MLflow version's empty store, created by MLflow's own migrations when missing."""
    template = template_path()
    if template.is_file():
        return template
    template.parent.mkdir(parents=True, exist_ok=True)
    partial = template.with_name(f".{template.name}.{os.getpid()}.partial")
    partial.unlink(missing_ok=True)
    _create_schema(partial)
    os.replace(partial, template)  # Whole or absent: a concurrent maker's copy is just as good.
    return template


def _create_schema(path: Path) -> None:
    """Creates MLflow's tables, and nothing else, in a new SQLite file.

    The one private MLflow API mtrec uses: ``_initialize_tables`` is what ``SqlAlchemyStore`` runs
    on an empty database (checked with MLflow 3.17). The public ``SqlAlchemyStore`` constructor
    would also create the default experiment, with the artifact location of this process, which
    a copy must not inherit.
    """
    import sqlalchemy
    from mlflow.store.db.utils import _initialize_tables

    engine = sqlalchemy.create_engine(f"sqlite:///{path}")
    try:
        _initialize_tables(engine)
    finally:
        engine.dispose()


def seed(path: Path) -> bool:
    """Creates the SQLite store ``path`` from the template, if it does not exist yet.

    Returns whether it did. Never half-writes ``path``: the copy is made beside it and linked into
    place only when complete, and never over a store another process created meanwhile. Anything
    that keeps the template from being used (an unwritable cache folder, a filesystem without
    hard links, a missing parent folder) leaves ``path`` to MLflow, which then migrates it itself.
    """
    if path.exists() or not path.parent.is_dir():
        return False
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        shutil.copyfile(make_template(), partial)
        os.link(partial, path)
    except FileExistsError:
        return False
    except Exception as e:  # An optimisation only: MLflow creates the store the slow way instead.
        log.debug(f"mtrec: new store {path} not created from a template ({type(e).__name__}: {e})")
        return False
    finally:
        partial.unlink(missing_ok=True)
    return True
