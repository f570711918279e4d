"""The ledger: what a method keeps after each task, item by item, in bytes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from retain.budget.units import parameter_bytes  # noqa: F401  (re-exported: the ledger's unit)
from retain.errors import BudgetError



@dataclass
class LedgerEntry:
    """Bytes kept after one task: one number per item, the total and the budget it must fit."""

    task: int
    items: dict[str, int]
    budget_bytes: int
    exemplars_per_class: dict[int, int] = field(default_factory=dict)

    @property
    def total_bytes(self) -> int:
        return sum(self.items.values())

    @property
    def exemplars(self) -> int:
        return sum(self.exemplars_per_class.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "items": dict(self.items),
            "total_bytes": self.total_bytes,
            "budget_bytes": self.budget_bytes,
            "exemplars": self.exemplars,
            # JSON keys are strings; from_dict turns them back into ints.
            "exemplars_per_class": {str(c): n for c, n in sorted(self.exemplars_per_class.items())},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LedgerEntry:
        return cls(
            task=int(data["task"]),
            items={str(k): int(v) for k, v in data["items"].items()},
            budget_bytes=int(data["budget_bytes"]),
            exemplars_per_class={int(c): int(n) for c, n in data.get("exemplars_per_class", {}).items()},
        )


class Ledger:
    """Per-task record of every stored item; refuses a task whose total exceeds the budget."""

    def __init__(self) -> None:
        self.entries: list[LedgerEntry] = []

    def record(
        self,
        task: int,
        items: dict[str, int],
        budget_bytes: int,
        exemplars_per_class: dict[int, int] | None = None,
    ) -> LedgerEntry:
        clean = {}
        for name, value in items.items():
            if int(value) < 0:
                raise ValueError(f"ledger item {name!r} has a negative size {value}")
            clean[str(name)] = int(value)
        entry = LedgerEntry(int(task), clean, int(budget_bytes), dict(exemplars_per_class or {}))
        if entry.total_bytes > entry.budget_bytes:
            breakdown = ", ".join(f"{k}={v:,}" for k, v in clean.items())
            raise BudgetError(
                f"Memory budget exceeded after task {task}: the method keeps {entry.total_bytes:,} bytes "
                f"({breakdown}) but memory.budget allows {entry.budget_bytes:,} bytes. Lower the number "
                f"of exemplars, use a smaller model or raise memory.budget."
            )
        self.entries = [e for e in self.entries if e.task != entry.task] + [entry]
        return entry

    @property
    def total_bytes(self) -> int:
        """Bytes kept after the latest recorded task (0 before any)."""
        return self.entries[-1].total_bytes if self.entries else 0

    def to_dict(self) -> list[dict[str, Any]]:
        return [entry.to_dict() for entry in self.entries]

    @classmethod
    def from_dict(cls, data: list[dict[str, Any]]) -> Ledger:
        ledger = cls()
        ledger.entries = [LedgerEntry.from_dict(d) for d in data]
        return ledger

    def state_dict(self) -> dict[str, Any]:
        return {"entries": self.to_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.entries = [LedgerEntry.from_dict(d) for d in state["entries"]]
