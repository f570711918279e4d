"""Validation of the user-supplied backbone arguments (`model.backbone_options` and input shape)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from retain.errors import ConfigError


def require_bool(option: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"Backbone option {option!r} (model.options.{option}) must be true or false, got {value!r}.")
    return value


def require_positive_int(option: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"Backbone option {option!r} (model.options.{option}) must be a positive integer, got {value!r}.")
    return value


def require_positive_float(option: str, value: Any) -> float:
    """A number > 0 (an int is taken as a float; a boolean is refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigError(f"Backbone option {option!r} (model.options.{option}) must be a number above 0, got {value!r}.")
    return float(value)


def require_widths(option: str, value: Any) -> list[int]:
    """A non-empty list of positive layer widths."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or not value:
        raise ConfigError(f"Backbone option {option!r} (model.options.{option}) must be a non-empty list of positive integers, got {value!r}.")
    return [require_positive_int(f"{option}[{i}]", width) for i, width in enumerate(value)]
