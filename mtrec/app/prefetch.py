"""A multirun's data and baselines, begun as the multirun starts.

With Hydra's basic launcher every job runs in the process that starts the multirun. Before its
first job trains, that process imports MLflow, opens the store and the parent run, composes each
job's config and imports TensorFlow: seconds of work on one core. Loading and splitting the data
and computing the strong baselines need none of that, so :func:`prefetch` starts them for the sweep's
base config meanwhile: the split on a thread, the baselines in a child process
(``mtrec.app.baselines.start_baselines``). A job takes them
from the process's caches (:class:`mtrec.app.process.ProcessState`) when its keys match the base
config's: every job of a sweep that varies neither the data nor the split nor the baselines'
options. Otherwise the prefetched work goes unused and each job computes its own, as without it.
"""

from __future__ import annotations

import logging
import threading

from mtrec.app.baselines import start_baselines
from mtrec.app.dataset import prepare
from mtrec.app.process import ProcessState
from mtrec.config import Config

log = logging.getLogger("mtrec")


def prefetch(cfg: Config, state: ProcessState) -> threading.Thread | None:
    """Starts loading ``cfg``'s split and computing its baselines on a thread (the process's exit
    waits for it, as for the baselines' own thread: ``ProcessState.start_baselines``).

    Nothing starts for a dry run, or for a TFDS dataset: loading it imports TensorFlow (and may
    download), which belongs on the jobs' thread. A config or data error is left for the first job
    to report (its own ``prepare`` raises it, in one line).

    Returns:
      The thread, or None when nothing started.
    """
    d = cfg.dataset
    if cfg.dry_run or (d.kind == "movielens" and not d.path):
        return None

    def run() -> None:
        try:
            split = prepare(cfg, state, prefetch=True)
        except Exception as e:  # noqa: BLE001 - the first job raises it again, where it is reported
            log.debug(f"prefetch: not started ({type(e).__name__}: {e})")
            return
        # One BLAS thread in the baselines' process: the other core is busy importing (a second
        # BLAS thread would slow it more than it speeds the baselines; docs/performance.md).
        start_baselines(cfg, split, state, blas_threads=1)

    thread = threading.Thread(target=run, name="mtrec-prefetch")
    thread.start()
    return thread
