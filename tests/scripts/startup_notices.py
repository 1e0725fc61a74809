"""Writes TensorFlow-like start-up notices and one real error to file descriptor 2 inside
mtrec.tensorflow_import's capture, then filters them as import_tensorflow does."""

import os
import sys

from mtrec.tensorflow_import import STARTUP_NOTICES, _Capture

with _Capture() as captured:
    os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n")
    os.write(2, b"I0000 00:00:1.0 1 cudart_stub.cc:31] Could not find cuda drivers on your machine.\n")
    os.write(2, b"E0000 00:00:1.0 1 cuda_platform.cc:52] failed call to cuInit: UNKNOWN ERROR (303)\n")
    os.write(
        2,
        b"I0000 00:00:1.0 1 port.cc:153] oneDNN custom operations are on. You may see slightly different "
        b"numerical results due to floating-point round-off errors from different computation orders.\n",
    )
    os.write(2, b"E0000 00:00:1.0 1 some_op.cc:7] a real TensorFlow error\n")
    print("and Python's own stderr", file=sys.stderr)
sys.stderr.write("".join(line for line in captured.lines() if not STARTUP_NOTICES.search(line)))
