"""What the end of a run will need, loaded in a background thread while the first model trains.

Keras runs each training step inside TensorFlow's runtime, which releases the GIL: Python work in
another thread during ``model.fit`` takes nothing from the job. Two one-off costs of a process's
first run are moved there:

- MLflow's check of a logged model's pip requirements maps every installed distribution to its
  modules, once a process (about 0.85 s on this project's machines, in the first model's log);
- matplotlib's import, for the report at the end of a multirun (0.5-0.9 s).

Nothing here is needed for correctness: the call that needs the work does it itself when the
thread has not (or failed to), and a failure here is never reported as the run's.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


def mlflow_requirement_map() -> None:
    """Builds the map MLflow's requirement check uses (``mlflow.pyfunc.log_model`` builds it on
    first use otherwise). Only a private function builds it ahead of that call
    (``mlflow.utils.requirements_utils._init_packages_to_modules_map``, checked with MLflow
    3.17.2): this is the one place mtrec names it. A missing function is skipped."""
    from mlflow.utils import requirements_utils

    build = getattr(requirements_utils, "_init_packages_to_modules_map", None)
    if build is not None:
        build()


def report_modules() -> None:
    """Imports what a multirun's report draws and tabulates with (``mtrec.reports``; matplotlib's
    object API and Agg canvas)."""
    import matplotlib.backends.backend_agg  # noqa: F401
    import matplotlib.figure  # noqa: F401
    import matplotlib.ticker  # noqa: F401
    import pandas  # noqa: F401

    import mtrec.reports.report  # noqa: F401
    import mtrec.reports.sweep  # noqa: F401
    import mtrec.reports.tables  # noqa: F401


def _run(tasks: list[Callable[[], None]]) -> None:
    for task in tasks:
        try:
            task()
        except Exception as e:  # The caller that needs it will do it, and report what fails.
            log.debug(f"warm-up {task.__name__} skipped: {type(e).__name__}: {e}")


def start(tasks: list[Callable[[], None]]) -> threading.Thread | None:
    """Runs ``tasks`` in order in a daemon thread (none when the list is empty); returns it.

    A daemon thread: a process that ends before the thread does (a one-epoch run) does not wait.
    """
    if not tasks:
        return None
    thread = threading.Thread(target=_run, args=(tasks,), name="mtrec-warm-up", daemon=True)
    thread.start()
    return thread
