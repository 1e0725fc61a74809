"""Shared fixtures: a per-session MLflow store template cache, and the real ml-100k.

Helpers (composition, subprocesses, ports) live in ``tests.helpers``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import ML_100K


@pytest.fixture(autouse=True, scope="session")
def store_template_cache(tmp_path_factory: pytest.TempPathFactory):
    """The session's own cache folder (mtrec.tracking.template): its first new store makes the
    template, the rest copy it; nothing is read from or written to the user's cache."""
    previous = os.environ.get("MTREC_CACHE_DIR")
    os.environ["MTREC_CACHE_DIR"] = str(tmp_path_factory.mktemp("mtrec-cache"))
    yield
    if previous is None:
        del os.environ["MTREC_CACHE_DIR"]
    else:
        os.environ["MTREC_CACHE_DIR"] = previous


@pytest.fixture
def ml_100k() -> Path:
    # Deliberately no skip: in CI the real data must be there, and a missing copy is a failure.
    assert (ML_100K / "u.data").is_file(), f"real MovieLens 100K expected at {ML_100K}"
    return ML_100K
