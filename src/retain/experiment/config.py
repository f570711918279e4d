"""Building a run's configuration: presets ← YAML file ← --set overrides, then names checked against the registries.

The schema itself (pydantic models, YAML and override helpers) is ground floor: `retain.config`.
This module adds what needs the rooms above it: the shipped presets and the method and memory
policy registries. Its old names are re-exported so `retain.experiment.config` still offers
everything it did.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from retain.config import (  # noqa: F401  (re-exported: the old home of the schema)
    AugmentConfig,
    BudgetConfig,
    CheckpointConfig,
    DataConfig,
    EvalConfig,
    LoggingConfig,
    MemoryConfig,
    ModelConfig,
    RetainConfig,
    ScenarioConfig,
    TrainConfig,
    apply_override,
    config_to_dict,
    deep_merge,
    parse_config,
    parse_override,
    read_yaml,
    validation_message,
)
from retain.errors import ConfigError
from retain.experiment.presets import load_preset


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
    tree: dict[str, Any] = {}
    preset_name = preset or file_tree.get("preset")
    if preset_name:
        tree = load_preset(preset_name)
        tree["preset"] = preset_name
    return deep_merge(tree, file_tree)


def validate_config(tree: dict[str, Any]) -> RetainConfig:
    """Validate a config mapping: the schema, then the names and parameters only the registries know."""
    config = parse_config(tree)
    check_registered_names(config)
    return config


def check_registered_names(config: RetainConfig) -> None:
    """The method's name and parameters and the memory policy, checked against their registries."""
    from retain.memory.config import check_policy_name
    from retain.methods import get_method_class

    check_policy_name(config.memory.policy)
    method_params(config, get_method_class(config.method_name))


def method_params(config: RetainConfig, method_cls: type) -> Any:
    """The method's validated `Params`; a ConfigError names the offending `method.` fields."""
    try:
        return method_cls.Params.model_validate(config.method_params)
    except ValidationError as exc:
        message = validation_message(exc).replace("`", "`method.", 1)
        raise ConfigError(message.replace("; `", "; `method.")) from None
