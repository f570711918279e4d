"""The budget: the one place a budget becomes numbers.

Bytes are the unit (`units`: sizes written in a config, a raw image, a float32 value, a
parameter); the protocols (`protocols`: benchmark, fair, AUC) turn a total into the bytes one run
may keep; `capacity` turns bytes into the room for exemplars and rows per class (the quota rules);
`forecast` tabulates what the ledger will hold after each task. Everything here is arithmetic on
sizes: asking the registries how big a backbone is or how a method grows is the run's job
(retain.runs.budgeting), and the memory only consumes the numbers.
"""

from __future__ import annotations

from retain.budget.capacity import (
    class_quota,
    exemplar_room,
    fill_round_robin,
    largest_common_quota,
    per_class_capacity,
    quota_upper_bound,
    reserved_bytes,
    row_capacity,
    water_level,
)
from retain.budget.units import ACCEPTED_FORMS, BYTES_PER_FLOAT32, float32_bytes, parameter_bytes, parse_budget, raw_image_bytes

__all__ = [
    "ACCEPTED_FORMS",
    "BYTES_PER_FLOAT32",
    "class_quota",
    "exemplar_room",
    "fill_round_robin",
    "float32_bytes",
    "largest_common_quota",
    "parameter_bytes",
    "parse_budget",
    "per_class_capacity",
    "quota_upper_bound",
    "raw_image_bytes",
    "reserved_bytes",
    "row_capacity",
    "water_level",
]
