"""TensorFlow imported without its C++ start-up chatter on a machine without a GPU.

On a CPU machine, importing TensorFlow and its first look at the devices print lines that are not
errors (``cudart_stub.cc: Could not find cuda drivers``, ``failed call to cuInit``, absl's notice
about logging before ``InitializeLog``), some at level E. ``TF_CPP_MIN_LOG_LEVEL=3`` would hide
them, and every real TensorFlow error with them. Instead, :func:`import_tensorflow` captures the
process's stderr (file descriptor 2: these lines come from C++) while it imports TensorFlow and
lists its devices, then writes back every captured line except the known start-up notices. A
real error during the import is therefore still printed; so is everything TensorFlow logs later.
``MTREC_TF_STARTUP_LOGS=1`` shows the notices too.
"""

from __future__ import annotations

import os
import re
import sys
import threading
from types import ModuleType

STARTUP_NOTICES = re.compile(
    r"All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|cudart_stub\.cc:\d+\] Could not find cuda drivers"
    r"|cuda_platform\.cc:\d+\] failed call to cuInit"
    r"|Unable to register cu(DNN|FFT|BLAS) factory"
    r"|computation_placer\.cc:\d+\] computation placer already registered"
    r"|port\.cc:\d+\] oneDNN custom operations are on"
)
"""What a CPU machine's TensorFlow prints on import and on its first device listing (TF 2.21).
The oneDNN notice (about round-off from oneDNN's kernels) is one that ``TF_CPP_MIN_LOG_LEVEL=2``
hid before TensorFlow began logging it through absl ahead of its log set-up."""


def import_tensorflow() -> ModuleType:
    """``import tensorflow``, its device set-up done, its start-up notices left out (see above)."""
    if "tensorflow" in sys.modules or os.environ.get("MTREC_TF_STARTUP_LOGS") == "1":
        import tensorflow as tf

        return tf
    captured = _Capture()
    try:
        with captured:
            import tensorflow as tf

            tf.config.list_physical_devices()  # where the CUDA platform reports that it has no GPU
    finally:  # what TensorFlow said is written back even when its import fails
        kept = [line for line in captured.lines() if not STARTUP_NOTICES.search(line)]
        if kept:
            sys.stderr.write("".join(kept))
            sys.stderr.flush()
    return tf


class _Capture:
    """File descriptor 2 redirected into a pipe, drained by a thread (so a long write cannot fill
    the pipe and block), restored on exit."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def __enter__(self) -> _Capture:
        sys.stderr.flush()
        self._read, write = os.pipe()
        self._saved = os.dup(2)
        os.dup2(write, 2)
        os.close(write)
        self._drain = threading.Thread(target=self._read_all, daemon=True)
        self._drain.start()
        return self

    def _read_all(self) -> None:
        while chunk := os.read(self._read, 65536):
            self._chunks.append(chunk)

    def __exit__(self, *exc: object) -> None:
        sys.stderr.flush()
        os.dup2(self._saved, 2)  # closes the pipe's last write end: the reader sees EOF
        os.close(self._saved)
        self._drain.join()
        os.close(self._read)

    def lines(self) -> list[str]:
        return b"".join(self._chunks).decode(errors="replace").splitlines(keepends=True)
