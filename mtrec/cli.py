"""The ``mtrec`` command: compose the config, hand the job to ``mtrec.jobs``, return the objective.

Kept short on purpose: the work is in ``mtrec.jobs`` and ``mtrec.train``, which tests call
without Hydra. Only this module knows about ``hydra.main``.
"""

from __future__ import annotations

import gc
import logging
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode

from mtrec.config import Config, register_configs
from mtrec.jobs import JobContext, Objective, run_job

CONF_DIR = str(Path(__file__).resolve().parent.parent / "conf")
log = logging.getLogger("mtrec")
register_configs()


def main() -> None:
    """The console script: Hydra's app, with the garbage collector kept off the start-up's heap.

    Start-up builds a large heap of objects that live as long as the process (Hydra's config,
    MLflow's store, the data, TensorFlow's modules), and every 25% of growth triggers a full
    collection that re-scans all of it (measured: ~2 s of ``experiment=tutorial``). So collection
    is off until TensorFlow has loaded, when ``mtrec.jobs`` moves everything alive to the
    permanent generation and turns it back on. Python's shutdown ends with a full collection
    too, over every graph the jobs built (1-3 s), so everything alive is frozen again before
    exit; atexit handlers, threads and open files still finish as usual.
    """
    gc.disable()
    try:
        app()
    finally:
        gc.freeze()


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")
def app(cfg: Config) -> Objective:
    hc = HydraConfig.get()
    multirun = hc.mode == RunMode.MULTIRUN
    ctx = JobContext(
        output_dir=Path(hc.runtime.output_dir),
        overrides=list(hc.overrides.task),
        sweep_dir=str(hc.sweep.dir) if multirun else None,
        job_num=hc.job.num if multirun else None,
    )
    return run_job(cfg, ctx)
