"""Units of the budget: sizes written in a configuration (bytes, KiB/MiB/GiB or raw images of the
dataset), and the bytes of a raw image, of a float32 value and of a parameter."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from retain.errors import BudgetError

# MEMO's budget tables write "MB" for 2**20 bytes (spec §0.4, §2.6), so MB and MiB agree here.
_UNITS = {
    "b": 1,
    "byte": 1,
    "bytes": 1,
    "kib": 2**10,
    "kb": 2**10,
    "mib": 2**20,
    "mb": 2**20,
    "gib": 2**30,
    "gb": 2**30,
}
_IMAGE_UNITS = {"image", "images", "img", "imgs"}
_PATTERN = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z]*)\s*$")

ACCEPTED_FORMS = (
    "a positive number of bytes (7864320), a size with a unit (512KiB, 1.5 MiB, 24MB; "
    "KB/MB/GB mean 2^10/2^20/2^30 bytes as in MEMO's tables) or a count of raw images of "
    "this dataset (2000 images)"
)


BYTES_PER_FLOAT32 = 4


def float32_bytes(count: int) -> int:
    """Bytes of `count` float32 values (statistics, stored logits): 4 each."""
    return BYTES_PER_FLOAT32 * int(count)


def parameter_bytes(num_parameters: int) -> int:
    """Bytes charged for float32 parameters (4 each; spec §0.4)."""
    return float32_bytes(num_parameters)


def raw_image_bytes(image_shape: Sequence[int]) -> int:
    """Bytes of one uint8 image of shape (C, H, W): C*H*W (3072 for CIFAR)."""
    return int(math.prod(int(s) for s in image_shape))


def parse_budget(value: str | int | float, image_bytes: int, field: str = "memory.budget") -> int:
    """Turn a budget written by the user into a whole number of bytes (rounded down)."""
    number, unit = _split(value, field)
    if unit in _IMAGE_UNITS:
        scale = image_bytes
    elif unit in _UNITS or unit == "":
        scale = _UNITS.get(unit, 1)
    else:
        raise _error(value, field, f"the unit {unit!r} is unknown")
    if not math.isfinite(number * scale) or number * scale >= 2**63:
        raise _error(value, field, "it is more bytes than a 64-bit count holds")
    total = int(math.floor(number * scale))
    if total <= 0:
        raise _error(value, field, "it is not a positive number of bytes")
    return total


def _split(value: str | int | float, field: str) -> tuple[float, str]:
    if isinstance(value, bool):
        raise _error(value, field, "a boolean is not a size")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise _error(value, field, "it is not finite")
        return float(value), ""
    if not isinstance(value, str):
        raise _error(value, field, f"a {type(value).__name__} is not a size")
    match = _PATTERN.match(value)
    if match is None:
        raise _error(value, field, "it is not a number followed by an optional unit")
    return float(match.group(1)), match.group(2).lower()


def _error(value: object, field: str, why: str) -> BudgetError:
    return BudgetError(f"{field}={value!r} is not a valid memory budget: {why}. Allowed: {ACCEPTED_FORMS}.")
