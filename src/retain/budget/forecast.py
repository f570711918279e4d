"""The ledger forecast: what the ledger will hold after each task, computed from the budget alone
(`retain run --dry-run` prints it; retain.runs.budgeting words it)."""

from __future__ import annotations

from dataclasses import dataclass

from retain.budget.protocols import ProtocolBudget, stored_parameters
from retain.budget.units import parameter_bytes


@dataclass
class ForecastRow:
    """What the ledger will hold after one task, computed from the budget alone."""

    task: int
    seen_classes: int
    model_bytes: int       # all stored parameters (heads excluded)
    extra_bytes: int       # beyond one backbone; charged unless the protocol is benchmark
    room_bytes: int        # left for exemplars
    capacity: int          # raw images that fit in the room
    per_class: int
    stored: int


def forecast(resolved: ProtocolBudget, seen_per_task: list[int], per_class: int | None = None) -> list[ForecastRow]:
    """Per-task ledger forecast for raw exemplars, class-balanced (m = ⌊capacity / seen⌋)."""
    rows = []
    for t, seen in enumerate(seen_per_task, start=1):
        room = resolved.exemplar_room(t)
        capacity = max(room, 0) // resolved.image_bytes
        m = min(per_class, capacity // seen) if per_class else capacity // seen
        model = parameter_bytes(stored_parameters(resolved.cost, resolved.growth, t))
        rows.append(ForecastRow(t, seen, model, resolved.extra_model_bytes(t), room, capacity, m, m * seen))
    return rows
