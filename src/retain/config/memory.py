"""The `memory` section: budget, codec, policy and per-class settings of the exemplar memory.

`policy` is only a name here; it is checked against the memory room's policy registry when a run
is built (retain.runs.config.validate_config), so the schema needs nothing above it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import field_validator

from retain.budget.units import parse_budget
from retain.config.strict import StrictSection


class MemoryConfig(StrictSection):
    """What the memory may keep (budget), how rows are stored (codec) and chosen (policy).

    `budget` is None for no memory; `per_class` fixes the exemplars per class instead of a
    total. `quality: "auto"` lets the method choose the JPEG quality (MRDC's Rq criterion).
    `charge_teacher` / `charge_head` add a frozen teacher / the classifier head to the ledger.
    `charge_columns` (default true) charges the values stored with each row (DER++'s logits,
    scores) as their float bytes, ledger item `stored_columns`; false leaves them free, as
    mammoth's buffer sizes do (for comparison with its tables).
    `replay` says how stored rows are replayed, whatever the policy stores: `concat` shuffles them
    into the task's pool (iCaRL/PyCIL), `batch` adds a memory minibatch of `batch_size` rows
    (default: train.batch_size) to every step (ER, Avalanche's Replay); unset, the policy's
    usual mode (concat for a selection policy, batch for a streaming one). docs/replay.md.
    """

    budget: str | int | None = None
    codec: Literal["raw", "jpeg"] = "raw"
    quality: int | Literal["auto"] = 75
    jpeg_backend: Literal["simplejpeg", "pillow"] | None = None
    shared_header: bool = False
    policy: str | None = None
    per_class: int | None = None
    charge_teacher: bool = False
    charge_head: bool = False
    charge_columns: bool = True
    decode_cache: bool = True
    replay: Literal["concat", "batch"] | None = None
    batch_size: int | None = None

    @field_validator("budget")
    @classmethod
    def _budget_parses(cls, value: str | int | None) -> str | int | None:
        if value is not None:
            parse_budget(value, image_bytes=1)  # shape-free check; bytes are resolved per dataset
        return value

    @field_validator("quality")
    @classmethod
    def _quality_range(cls, value: int | str) -> int | str:
        if isinstance(value, int) and not 1 <= value <= 100:
            raise ValueError(f"memory.quality={value} is not a JPEG quality: use 1..100 or 'auto'")
        return value

    @field_validator("per_class", "batch_size")
    @classmethod
    def _positive(cls, value: int | None, info) -> int | None:
        if value is not None and value < 1:
            raise ValueError(f"memory.{info.field_name}={value} must be a positive whole number (or left unset)")
        if value is not None and value > 2**31 - 1:
            raise ValueError(f"memory.{info.field_name}={value} is too large (at most {2**31 - 1})")
        return value
