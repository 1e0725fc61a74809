"""mtrec.tensorflow_import: TensorFlow's CPU start-up notices dropped, real errors kept."""

from __future__ import annotations

from tests.helpers import run_script


def test_tensorflow_start_up_notices_are_dropped_and_real_errors_kept() -> None:
    out = run_script("startup_notices.py")
    assert out.stderr.splitlines() == [
        "E0000 00:00:1.0 1 some_op.cc:7] a real TensorFlow error",
        "and Python's own stderr",
    ]
