"""Memory policies: what enters the memory and what leaves, usable with any codec."""

from __future__ import annotations

import importlib
import importlib.util

from retain.memory.policies import builtin  # noqa: F401  (registers the built-in policies)
from retain.memory.policies.herding import herding_order, herding_order_lucir
from retain.memory.policies.quotas import class_balanced_quota, fixed_per_class, prefix_slots, rank_within_class
from retain.memory.policies.registry import MemoryPolicy, build_policy, policy_class, policy_names, register_policy
from retain.memory.policies.reservoir import (
    balanced_reservoir_assign,
    balanced_reservoir_slots,
    reservoir_assign,
    reservoir_slots,
)

# Policies that live in their own files register themselves on import; listed here so that
# `memory.policy: rainbow` works without the caller importing the module first.
for _extension in ("rainbow", "maer"):
    if importlib.util.find_spec(f"{__name__}.{_extension}") is not None:
        importlib.import_module(f"{__name__}.{_extension}")

__all__ = [
    "MemoryPolicy",
    "balanced_reservoir_assign",
    "balanced_reservoir_slots",
    "build_policy",
    "class_balanced_quota",
    "fixed_per_class",
    "herding_order",
    "herding_order_lucir",
    "policy_class",
    "policy_names",
    "prefix_slots",
    "rank_within_class",
    "register_policy",
    "reservoir_assign",
    "reservoir_slots",
]
