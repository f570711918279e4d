"""Memory: byte budgets and the ledger, codecs (raw, JPEG), the store and selection policies.

Everything a method keeps is charged in bytes to one budget. A *codec* decides how a row is
stored, a *policy* what enters and leaves, the *budget* how many bytes may be kept and the
*ledger* what was kept after each task. This package never imports methods or the engine.
"""

from __future__ import annotations

from retain.memory.budget import parse_budget, raw_image_bytes
from retain.memory.capacity import fill_round_robin, largest_common_quota, per_class_capacity, row_capacity
from retain.memory.codecs import Codec, JpegCodec, RawCodec
from retain.config import MemoryConfig  # the schema's section, re-exported (one class)
from retain.memory.checked_section import CheckedMemorySection
from retain.memory.exemplars import ExemplarMemory, build_codec
from retain.memory.ledger import Ledger, LedgerEntry, parameter_bytes
from retain.memory.policies import (
    MemoryPolicy,
    balanced_reservoir_assign,
    build_policy,
    class_balanced_quota,
    fixed_per_class,
    herding_order,
    herding_order_lucir,
    policy_names,
    register_policy,
    reservoir_assign,
)
from retain.memory.store import MemoryStore

__all__ = [
    "CheckedMemorySection",
    "Codec",
    "ExemplarMemory",
    "JpegCodec",
    "Ledger",
    "LedgerEntry",
    "MemoryConfig",
    "MemoryPolicy",
    "MemoryStore",
    "RawCodec",
    "balanced_reservoir_assign",
    "build_codec",
    "build_policy",
    "class_balanced_quota",
    "fill_round_robin",
    "fixed_per_class",
    "herding_order",
    "herding_order_lucir",
    "largest_common_quota",
    "parameter_bytes",
    "parse_budget",
    "per_class_capacity",
    "policy_names",
    "raw_image_bytes",
    "register_policy",
    "reservoir_assign",
    "row_capacity",
]
