"""The config layer: typed schemas, their Hydra registration, and the checks types cannot carry.

Only this layer and :mod:`mtrec.app` read a composed config; every other layer takes plain
arguments.
"""

from pathlib import Path

from mtrec.config.checks import ConfigError, metric_names, validate, validate_against_data, validate_pareto
from mtrec.config.registry import register_configs
from mtrec.config.schema import (
    Config,
    DatasetConfig,
    EarlyStoppingConfig,
    LossConfig,
    ModelConfig,
    OptimizerConfig,
    ParetoObjective,
    SweepConfig,
    TrackingConfig,
    TrainerConfig,
)

CONF_DIR = str(Path(__file__).resolve().parents[2] / "conf")
"""The folder of mtrec's YAML configs (``conf/`` beside the package, in an editable install)."""

__all__ = [
    "CONF_DIR",
    "Config",
    "ConfigError",
    "DatasetConfig",
    "EarlyStoppingConfig",
    "LossConfig",
    "ModelConfig",
    "OptimizerConfig",
    "ParetoObjective",
    "SweepConfig",
    "TrackingConfig",
    "TrainerConfig",
    "metric_names",
    "register_configs",
    "validate",
    "validate_against_data",
    "validate_pareto",
]
