"""The configuration schema: the ground floor every room may read.

Pydantic models of every section of a run (`RetainConfig` and its parts) and the pure helpers
that turn YAML files and `--set` overrides into a config tree. Nothing here imports a room of
retain (only `retain.errors`): names that registries own (methods, memory policies) are
checked when the run is built, in `retain.runs.config`.
"""

from retain.config.augment import AugmentConfig
from retain.config.budget import DEFAULT_POINT_BACKBONES, BudgetConfig
from retain.config.distributed import DistributedConfig
from retain.config.memory import MemoryConfig
from retain.config.schema import RetainConfig, config_to_dict, parse_config
from retain.config.sections import (
    CheckpointConfig,
    DataConfig,
    EvalConfig,
    LoggingConfig,
    WandbConfig,
    ModelConfig,
    ScenarioConfig,
    TrainConfig,
)
from retain.config.tree import apply_override, deep_merge, parse_override, read_yaml, validation_message

__all__ = [
    "DEFAULT_POINT_BACKBONES",
    "AugmentConfig",
    "BudgetConfig",
    "CheckpointConfig",
    "DataConfig",
    "DistributedConfig",
    "EvalConfig",
    "LoggingConfig",
    "WandbConfig",
    "MemoryConfig",
    "ModelConfig",
    "RetainConfig",
    "ScenarioConfig",
    "TrainConfig",
    "apply_override",
    "config_to_dict",
    "deep_merge",
    "parse_config",
    "parse_override",
    "read_yaml",
    "validation_message",
]
