"""Class orders: which original class becomes remapped label 0, 1, 2, ..."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from retain.errors import ConfigError

# iCaRL, LUCIR, MRDC, PyCIL and MEMO all shuffle CIFAR-100 with this seed (spec §0.4).
DEFAULT_ORDER_SEED = 1993
ORDER_NAMES = ("natural", "shuffle")


def class_order(num_classes: int, order: str | Sequence[int] = "natural", seed: int = DEFAULT_ORDER_SEED) -> list[int]:
    """Original class ids in the order they are learned: entry i becomes remapped label i.

    "natural" is 0..num_classes-1; "shuffle" is `np.random.RandomState(seed).permutation`,
    which reproduces the published seed-1993 orders; an explicit list is used as given.
    """
    if isinstance(order, str):
        if order == "natural":
            return list(range(num_classes))
        if order == "shuffle":
            return [int(c) for c in np.random.RandomState(seed).permutation(num_classes)]
        raise ConfigError(
            f"scenario.order is {order!r}, which is not a known order. Allowed: "
            f"'natural', 'shuffle' (seeded permutation), or an explicit list that is a "
            f"permutation of 0..{num_classes - 1}."
        )
    explicit = _as_int_list(order)
    if explicit is None or sorted(explicit) != list(range(num_classes)):
        raise ConfigError(
            f"scenario.order is {_short(order)}, which is not a permutation of "
            f"0..{num_classes - 1}. An explicit class order must list every one of the "
            f"{num_classes} class ids exactly once; otherwise use 'natural' or 'shuffle'."
        )
    return explicit


def order_name(order: str | Sequence[int]) -> str:
    """How the order was chosen, for a plan's provenance (the ids themselves are in class_order)."""
    return order if isinstance(order, str) else "explicit"


def _as_int_list(values: Sequence[int]) -> list[int] | None:
    """The values as plain ints, or None when any is not an integer."""
    result = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            return None
        result.append(int(value))
    return result


def _short(values: Sequence[int], limit: int = 12) -> str:
    """A list for an error message, cut after `limit` entries."""
    values = list(values)
    if len(values) <= limit:
        return repr(values)
    return "[" + ", ".join(repr(v) for v in values[:limit]) + f", ... ({len(values)} entries)]"
