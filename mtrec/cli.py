"""The ``mtrec`` command: compose the config, check it, train, return the objective(s).

Kept short on purpose: the work is in ``mtrec.train``, which tests call without Hydra.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import cast

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import OmegaConf

from mtrec import data, report, tracking
from mtrec.config import Config, ConfigError, register_configs

CONF_DIR = str(Path(__file__).resolve().parent.parent / "conf")
log = logging.getLogger("mtrec")
register_configs()


def _hydra_tags(hc) -> dict[str, str]:
    tags = {"mtrec.overrides": " ".join(hc.overrides.task), "mtrec.output_dir": hc.runtime.output_dir}
    if hc.mode == RunMode.MULTIRUN:
        tags |= {"mtrec.sweep_dir": hc.sweep.dir, "mtrec.job_num": str(hc.job.num)}
    return tags


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")
def main(cfg: Config) -> float | tuple[float, ...] | None:
    hc = HydraConfig.get()
    output_dir = Path(hc.runtime.output_dir)
    try:
        split = data.prepare(cfg)
    except (ConfigError, data.DataError) as e:
        if hc.mode == RunMode.MULTIRUN:
            raise  # Hydra finishes the other jobs, then reports this one as failed.
        print(f"mtrec: error: {e}", file=sys.stderr)
        sys.exit(2)
    from mtrec import train  # TensorFlow loads only once the config and data are known good.

    if cfg.dry_run:
        log.info(train.describe(train.build_model(cfg, split), split))
        return None

    OmegaConf.save(cfg, output_dir / "config.yaml", resolve=True)
    run_name = cfg.tracking.run_name or tracking.default_run_name(
        cfg.loss.rating_weight, cfg.loss.retrieval_weight
    )
    params = tracking.flatten(cast(dict, OmegaConf.to_container(cfg, resolve=True)))
    with tracking.start_run(cfg.tracking, run_name=run_name, params=params, tags=_hydra_tags(hc)) as run:
        metrics = train.train_and_evaluate(cfg, split, output_dir, run.log_metrics)
        if cfg.tracking.log_artifacts:
            tracking.log_artifacts(run, output_dir)
    log.info(report.format_metrics(run_name, metrics))
    values = tuple(metrics[name] for name in cfg.objectives)
    return values[0] if len(values) == 1 else values
