"""Config trees as plain mappings: YAML files, `--set dotted.key=value` overrides, merging, error text."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from retain.errors import ConfigError


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
