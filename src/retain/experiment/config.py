"""Run configuration: pydantic models, YAML loading, presets and --set overrides."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from retain.augment import AugmentConfig
from retain.errors import ConfigError
from retain.memory.config import MemoryConfig
from retain.memory.protocols import BudgetConfig


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataConfig(_Section):
    """Which dataset to load and where its files are."""

    name: str = "digits"
    dir: str | None = None
    download: bool = True
    mirror: str | None = None


class ScenarioConfig(_Section):
    """How classes are split into tasks."""

    kind: Literal["class-incremental", "blurry"] = "class-incremental"
    base: int = Field(0, ge=0)
    increment: int = Field(2, ge=1)
    num_tasks: int | None = Field(None, ge=1)
    order: Literal["natural", "shuffle"] | list[int] = "shuffle"
    order_seed: int = 1993
    blurry: int = Field(10, ge=0, le=100)
    stream: Literal["offline", "online"] = "offline"


class ModelConfig(_Section):
    """The backbone and its options (e.g. `hidden: [400, 400]` for the MLP)."""

    backbone: str = "mlp"
    options: dict[str, Any] = Field(default_factory=dict)


class TrainConfig(_Section):
    """Optimiser, schedule and speed options shared by every method."""

    epochs: int = Field(5, ge=0)
    first_epochs: int | None = Field(None, ge=0)
    batch_size: int = Field(64, ge=1)
    lr: float = Field(0.1, gt=0)
    first_lr: float | None = Field(None, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(5e-4, ge=0)
    nesterov: bool = False
    schedule: Literal["constant", "multistep", "cosine", "warmup-cosine-restarts"] = "constant"
    milestones: list[int] = Field(default_factory=list)
    first_milestones: list[int] | None = None
    first_weight_decay: float | None = Field(None, ge=0)
    gamma: float = Field(0.1, gt=0)
    grad_accumulation: int = Field(1, ge=1)
    channels_last: bool | None = None  # None: on for convolutional backbones on CPU (RetainConfig resolves it)
    bf16: bool = False
    # Torch intra-op threads for the run (None: PyTorch's default). Small-batch runs (RM's batch 16)
    # gain nothing from a second thread and, on a busy machine, lose 20-50x to thread waits.
    threads: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _nesterov_needs_momentum(self) -> "TrainConfig":
        if self.nesterov and self.momentum == 0:
            raise ValueError("train.nesterov = true needs train.momentum > 0")
        return self


class EvalConfig(_Section):
    """Evaluation options."""

    batch_size: int = Field(1024, ge=1)
    every_epoch: bool = False  # also evaluate after every epoch; adds RM's max-over-epochs accuracy
    joint_accuracy: float | None = Field(None, ge=0, le=100)  # a joint run's last accuracy: adds intransigence


class CheckpointConfig(_Section):
    """When a run saves what it needs to resume: after every task, and every N epochs inside one."""

    every_epochs: int = Field(0, ge=0)  # 0: at task boundaries only


class LoggingConfig(_Section):
    """Live logging (TensorBoard, optional MLflow) and the report written at the end of a run."""

    tensorboard: bool = True
    mlflow: bool = False
    mlflow_uri: str | None = None         # default: sqlite:///<parent of the run directory>/mlflow.db
    mlflow_experiment: str | None = None  # default: the preset (or dataset) name
    report: bool = True


class RetainConfig(_Section):
    """A whole run: data, scenario, model, method, memory, training, evaluation and seed."""

    preset: str | None = None
    seed: int = 0
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

    @model_validator(mode="after")
    def _resolve_channels_last(self) -> "RetainConfig":
        # Measured (benchmarks/): channels_last trains ResNet-32 ~20% faster on CPU; an MLP has no use for it.
        if self.train.channels_last is None:
            self.train.channels_last = self.model.backbone != "mlp" and self.device == "cpu"
        return self

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
        return self.method["name"]

    @property
    def method_params(self) -> dict[str, Any]:
        return {k: v for k, v in self.method.items() if k != "name"}


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split `a.b.c=value` into its key path and a YAML-parsed value."""
    if "=" not in text:
        raise ConfigError(f"Override {text!r} (--set) must look like dotted.key=value, e.g. train.epochs=3.")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"Override {text!r} (--set) has an empty key; expected dotted.key=value.")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.split("."), value


def apply_override(tree: dict[str, Any], path: list[str], value: Any) -> None:
    """Set tree[path] = value, creating intermediate mappings."""
    node = tree
    for part in path[:-1]:
        child = node.get(part)
        if child is None or not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[path[-1]] = value


def deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """A copy of `base` with `update` merged in, mappings merged recursively."""
    merged = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Load a YAML mapping, with a clear error for a missing or malformed file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"Config file {str(path)!r} does not exist; pass the path of a YAML file.")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"Config file {str(path)!r} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"Config file {str(path)!r} must hold a mapping of sections, got {type(data).__name__}.")
    return data


def validation_message(exc: ValidationError) -> str:
    """One paragraph naming every offending field, its value and what is allowed."""
    parts = []
    for error in exc.errors():
        field = ".".join(str(p) for p in error["loc"]) or "config"
        value = error.get("input")
        shown = repr(value) if not isinstance(value, dict) else "{...}"
        if error["type"] == "extra_forbidden":
            parts.append(f"`{field}` is not a known setting")
        else:
            parts.append(f"`{field}` = {shown}: {error['msg']}")
    return "Invalid configuration: " + "; ".join(parts) + "."


def build_config(
    config_path: str | Path | None = None,
    preset: str | None = None,
    overrides: list[str] | None = None,
    seed: int | None = None,
) -> RetainConfig:
    """Resolve preset ← config file ← --set overrides ← --seed into a validated config."""
    file_tree = read_yaml(config_path) if config_path else {}
    tree = merge_preset(file_tree, preset)
    for text in overrides or []:
        path, value = parse_override(text)
        apply_override(tree, path, value)
    if seed is not None:
        tree["seed"] = seed
    return validate_config(tree)


def merge_preset(file_tree: dict[str, Any], preset: str | None = None) -> dict[str, Any]:
    """The named preset (`preset`, else the tree's own `preset:` key) with `file_tree` merged over it."""
    from retain.experiment.presets import load_preset

    tree: dict[str, Any] = {}
    preset_name = preset or file_tree.get("preset")
    if preset_name:
        tree = load_preset(preset_name)
        tree["preset"] = preset_name
    return deep_merge(tree, file_tree)


def validate_config(tree: dict[str, Any]) -> RetainConfig:
    """Validate a config mapping (and the method's own parameters)."""
    try:
        config = RetainConfig.model_validate(tree)
    except ValidationError as exc:
        raise ConfigError(validation_message(exc)) from None
    from retain.methods import get_method_class

    method_cls = get_method_class(config.method_name)
    try:
        method_cls.Params.model_validate(config.method_params)
    except ValidationError as exc:
        message = validation_message(exc).replace("`", "`method.", 1)
        raise ConfigError(message.replace("; `", "; `method.")) from None
    return config


def config_to_dict(config: RetainConfig) -> dict[str, Any]:
    """The resolved config as plain data (what config.yaml holds)."""
    return config.model_dump(mode="json")
