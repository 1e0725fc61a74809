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
    """The console script: Hydra's app, then a quick exit.

    Python's shutdown ends with a full garbage collection, which walks every TensorFlow graph
    object the jobs built (measured: 1.2-3 s after a three-model sweep). Nothing is left to run
    by then, so everything alive is moved out of its sight first; atexit handlers, threads and
    open files still finish as usual.
    """
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
