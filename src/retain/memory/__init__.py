"""Memory: codecs (raw, JPEG), the store, selection policies and the ledger.

Everything a method keeps is charged in bytes to one budget. A *codec* decides how a row is
stored, a *policy* what enters and leaves, the *ledger* what was kept after each task; how many
bytes may be kept, and how many rows that makes per class, is the budget room's (retain.budget):
the memory only consumes its numbers. This package never imports methods or the engine.
"""

from __future__ import annotations

from retain.memory.codecs import Codec, JpegCodec, RawCodec
from retain.config import MemoryConfig  # the schema's section, re-exported (one class)
from retain.memory.checked_section import CheckedMemorySection
from retain.memory.exemplars import ExemplarMemory, build_codec
from retain.memory.ledger import Ledger, LedgerEntry
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
    "fixed_per_class",
    "herding_order",
    "herding_order_lucir",
    "policy_names",
    "register_policy",
    "reservoir_assign",
]
