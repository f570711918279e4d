"""The whole run configuration (`RetainConfig`): every section, checked for shape, not for names.

Names that only the rooms above know (method, memory policy) are strings here; retain.runs.config
checks them against the registries when it builds a run.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, PrivateAttr, ValidationError, field_validator, model_validator

from retain.config.augment import AugmentConfig
from retain.config.budget import BudgetConfig
from retain.config.distributed import DistributedConfig
from retain.config.memory import MemoryConfig
from retain.config.sections import (
    CheckpointConfig,
    DataConfig,
    EvalConfig,
    LoggingConfig,
    ModelConfig,
    ScenarioConfig,
    TrainConfig,
    MAX_SEED,
)
from retain.config.strict import StrictSection
from retain.config.tree import validation_message
from retain.errors import ConfigError, warn_renamed


# Settings that moved from `memory` to the method's parameters: name -> the value they had by default.
MOVED_TO_METHOD = {"maer_policy": "min", "maer_middle": "clamp"}


class RetainConfig(StrictSection):
    """A whole run: data, scenario, model, method, memory, training, evaluation and seed."""

    preset: str | None = None
    imports: list[str] = Field(default_factory=list)  # plugin modules or .py files loaded before the names are checked
    seed: int = Field(0, ge=0, le=MAX_SEED)
    device: str = "cpu"
    data: DataConfig = Field(default_factory=DataConfig)
    scenario: ScenarioConfig = Field(default_factory=ScenarioConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    method: dict[str, Any] = Field(default_factory=lambda: {"name": "finetune"})
    memory: MemoryConfig = Field(default_factory=MemoryConfig)
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    budget: BudgetConfig = Field(default_factory=BudgetConfig)
    checkpoint: CheckpointConfig = Field(default_factory=CheckpointConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    distributed: DistributedConfig = Field(default_factory=DistributedConfig)
    # Where each value came from (dotted field -> "preset demo", "file x.yaml", "--set", ...), and
    # notes on settings that take no effect; filled when the config is built (not part of config.yaml).
    _sources: dict[str, str] = PrivateAttr(default_factory=dict)
    _notes: list[str] = PrivateAttr(default_factory=list)

    @model_validator(mode="after")
    def _resolve_channels_last(self) -> "RetainConfig":
        # Measured (benchmarks/): channels_last trains ResNet-32 ~20% faster on CPU; an MLP has no use for it.
        if self.train.channels_last is None:
            self.train.channels_last = self.model.backbone != "mlp" and self.device == "cpu"
        return self

    @model_validator(mode="before")
    @classmethod
    def _moved_settings(cls, tree: Any) -> Any:
        # memory.maer_policy / memory.maer_middle moved to the method's parameters (one home for
        # MAER's knobs, beside method.scores_file and method.longtail_fraction): old files still load.
        memory = tree.get("memory") if isinstance(tree, dict) else None
        if not isinstance(memory, dict) or not any(name in memory for name in MOVED_TO_METHOD):
            return tree
        tree, memory = dict(tree), dict(memory)
        method = tree.get("method", {"name": "finetune"})
        method = {"name": method} if isinstance(method, str) else dict(method) if isinstance(method, dict) else method
        for name, old_default in MOVED_TO_METHOD.items():
            if name not in memory:
                continue
            value = memory.pop(name)
            warn_renamed(f"memory.{name}", f"method.{name}", stacklevel=2)
            if isinstance(method, dict) and value != old_default:  # the old default is every method's own; a value set there wins
                method[name] = value
        tree.update(memory=memory, method=method)
        return tree

    @field_validator("method", mode="before")
    @classmethod
    def _method_has_name(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"name": value}
        if not isinstance(value, dict) or not isinstance(value.get("name"), str):
            raise ValueError("method must be a mapping with a 'name' (e.g. {name: icarl})")
        return value

    @property
    def method_name(self) -> str:
        """The `method.name` of the run."""
        return self.method["name"]

    @property
    def method_params(self) -> dict[str, Any]:
        """The `method` section without its name: what the method's `Params` validate."""
        return {k: v for k, v in self.method.items() if k != "name"}


def parse_config(tree: dict[str, Any]) -> RetainConfig:
    """Validate a config mapping against the schema; a ConfigError names every offending field."""
    try:
        return RetainConfig.model_validate(tree)
    except ValidationError as exc:
        raise ConfigError(validation_message(exc, RetainConfig)) from None


def config_to_dict(config: RetainConfig) -> dict[str, Any]:
    """The resolved config as plain data (what config.yaml holds)."""
    return config.model_dump(mode="json")
