"""A function call in a child Python process: :class:`ChildCall`.

For CPU work that would otherwise share the GIL with the process's own start-up. A multirun's
first seconds are Python on one core (MLflow's and TensorFlow's imports, opening the store), and
the strong baselines, computed in a thread meanwhile, contend with them for the GIL between their
numpy calls: on this project's 2-core machines the baselines then ended 1.3 s after TensorFlow's
import, and the first job waited for them (measured in docs/performance.md). In a process of their
own they end first.

The call travels as a pickle on the child's stdin (``python -m mtrec.app.child_call``) and comes
back as one on its stdout: its result or its exception, and the log records it emitted on the
``mtrec`` logger, which the parent logs again as its own. Anything the child prints goes to its
stderr, which is the parent's. :meth:`ChildCall.stop` kills a child whose result nobody needs
any more (a killed process, unlike a thread inside BLAS, cannot hang the parent's exit).
"""

from __future__ import annotations

import logging
import os
import pickle
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

log = logging.getLogger("mtrec")
# OpenBLAS (numpy's and SciPy's wheels), MKL, and OpenMP builds.
BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS")


class ChildCall:
    """``function()`` run in a new child process, its outcome in :attr:`future`.

    Args:
      function: a picklable callable without arguments (a module-level function, or a
        ``functools.partial`` of one with picklable arguments).
      blas_threads: numpy's BLAS threads in the child (None: BLAS's default, one a core).
      name: the waiting thread's name.
      future: the future to set (a new one by default).
    """

    def __init__(
        self,
        function: Callable[[], Any],
        blas_threads: int | None = None,
        name: str = "child",
        future: Future[Any] | None = None,
    ) -> None:
        self.future: Future[Any] = Future() if future is None else future
        payload = pickle.dumps(function, protocol=pickle.HIGHEST_PROTOCOL)
        env = None
        if blas_threads is not None:  # read by the BLAS libraries as they load, before any call
            env = {**os.environ, **{name: str(blas_threads) for name in BLAS_THREAD_VARIABLES}}
        self._process = subprocess.Popen(
            [sys.executable, "-m", "mtrec.app.child_call"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        self._stopped = False
        # Not a daemon: it only waits on the child's pipe, and ends when the child does (or is stopped).
        self._thread = threading.Thread(target=self._wait, args=(payload,), name=name)
        self._thread.start()

    def _wait(self, payload: bytes) -> None:
        try:
            out, _ = self._process.communicate(payload)
            if self._process.returncode != 0 or not out:
                why = "was stopped" if self._stopped else f"exited with code {self._process.returncode}"
                raise ChildError(f"the child process {why} before it answered")
            ok, value, records = pickle.loads(out)
            for level, message in records:
                log.log(level, message)
            if not ok:
                raise value
            self.future.set_result(value)
        except BaseException as e:  # noqa: BLE001 - handed to whoever waits for the result
            self.future.set_exception(e)

    def result(self) -> Any:
        """The call's result; raises what the call raised, or :class:`ChildError` when the child
        died (killed, out of memory) or was stopped before it answered."""
        return self.future.result()

    def stop(self) -> None:
        """Kills the child if it is still running, and waits for the waiting thread to end."""
        if self._process.poll() is None:
            self._stopped = True
            self._process.kill()
        self._thread.join()


class ChildError(RuntimeError):
    """The child process ended without an answer."""


class _Records(logging.Handler):
    """Keeps the child's ``mtrec`` log records, to be logged again by the parent."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[tuple[int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((record.levelno, record.getMessage()))


def _outcome(function: Callable[[], Any]) -> tuple[bool, Any]:
    try:
        return True, function()
    except Exception as e:  # noqa: BLE001 - raised again in the parent
        try:
            pickle.dumps(e)
        except Exception:  # noqa: BLE001 - an exception that does not pickle goes back as text
            e = ChildError(f"{type(e).__name__}: {e}")
        return False, e


def child_main() -> None:
    """The child's side: one call from stdin, its outcome to stdout."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it stops us.
    answer = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # what the call prints goes to stderr
    handler = _Records()
    logger = logging.getLogger("mtrec")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    ok, value = _outcome(pickle.load(sys.stdin.buffer))
    answer.write(pickle.dumps((ok, value, handler.records), protocol=pickle.HIGHEST_PROTOCOL))
    answer.close()


if __name__ == "__main__":
    child_main()
