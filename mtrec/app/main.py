"""The ``mtrec`` command: compose the config, hand the job to :mod:`mtrec.app.job`, return the
objective.

Kept short on purpose: the work is in ``mtrec.app.job`` and the layers below it, which tests call
without Hydra. Only this module knows about ``hydra.main``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode

from mtrec.app import process
from mtrec.config import CONF_DIR, Config, register_configs

if TYPE_CHECKING:
    from mtrec.app.job import Objective

register_configs()


def main() -> None:
    """The console script: Hydra's app, then a quick exit: no wait for baselines no job needs
    any more (a resumed sweep's, when every job was skipped), no final collection
    (``process.freeze_before_exit``)."""
    try:
        app()
    finally:
        process.current().stop_children()
        process.freeze_before_exit()


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")
def app(cfg: Config) -> Objective:
    # The job module (and MLflow, ~0.9 s) loads only when a job runs: not for --help, --cfg, -i.
    from mtrec.app.job import JobContext, run_job

    hc = HydraConfig.get()
    multirun = hc.mode == RunMode.MULTIRUN
    ctx = JobContext(
        output_dir=Path(hc.runtime.output_dir),
        overrides=list(hc.overrides.task),
        sweep_dir=str(hc.sweep.dir) if multirun else None,
        job_num=hc.job.num if multirun else None,
    )
    return run_job(cfg, ctx, process.current())
