"""Validation of scenario settings: one clear error naming the field."""

from __future__ import annotations

import numpy as np

from retain.errors import ConfigError


def check_num_classes(num_classes: int) -> None:
    """Refuse a class count that cannot describe a dataset."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ConfigError(
            f"num_classes is {num_classes!r}; it must be a positive integer (the number of "
            f"classes of the dataset)."
        )


def check_int(name: str, value: object, low: int, high: int, allowed: str) -> None:
    """Refuse a non-integer or out-of-range scenario setting, naming the field."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise ConfigError(f"{name} is {value!r}, which is not allowed; it must be an integer in {allowed}.")
