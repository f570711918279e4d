"""Memory-aligned comparison (MEMO §2.6): parameters → bytes → exemplar-equivalents.

Three protocols decide how many bytes a method may keep:

* `benchmark`: the traditional one. `memory.budget` buys exemplars; the extra parameters of
  model-based methods (DER's backbones, MEMO's specialized blocks) are not charged.
* `fair`: every method gets the total memory (model + exemplars) of a reference, by default
  DER with ResNet-32 and 2000 exemplars; model bytes a method does not use become exemplars.
* `auc`: the same alignment at several budget points (one backbone size per point); the
  area under accuracy-vs-MB summarises a method across budgets.

This module is pure arithmetic on parameter counts; building backbones to count them is the
caller's job (`retain.runs.budgeting`, which asks the registries).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Sequence

from retain.budget.units import parameter_bytes
from retain.errors import BudgetError

# How a method's stored parameters grow with the number of tasks t:
#   single       one backbone P, whatever t (iCaRL, WA, BiC, Replay, ...)
#   specialized  G + t·S: shared generalized blocks plus one specialized block per task (MEMO)
#   backbone     t·P: one whole backbone per task (DER, Dynamically Expandable Representation)
Growth = Literal["single", "specialized", "backbone"]
GROWTHS: tuple[str, ...] = ("single", "specialized", "backbone")

MIB = 2**20
# MEMO labels its CIFAR-100 B0 Inc10 budget points with these rounded values (spec §2.6); the
# AUC integrates over them when the computed grid matches.
NOMINAL_GRIDS_MB: dict[str, tuple[float, ...]] = {"cifar100-b0-inc10": (7.6, 12.4, 16.0, 19.8, 23.5)}
_NOMINAL_TOLERANCE_MB = 0.15


@dataclass(frozen=True)
class BackboneCost:
    """Parameter counts of one backbone, heads excluded: the whole of it, its generalized
    part and one specialized block (both 0 when it cannot be split)."""

    name: str
    parameters: int
    generalized: int = 0
    specialized: int = 0

    def __post_init__(self) -> None:
        if self.generalized + self.specialized not in (0, self.parameters):
            raise ValueError(f"{self.name}: generalized + specialized must equal the whole backbone")


def check_growth(growth: str) -> None:
    if growth not in GROWTHS:
        raise ValueError(f"unknown model growth {growth!r}; expected one of {GROWTHS}")


def stored_parameters(cost: BackboneCost, growth: str, tasks: int) -> int:
    """Parameters a method stores after `tasks` tasks (heads excluded)."""
    check_growth(growth)
    if growth == "single":
        return cost.parameters
    if growth == "backbone":
        return tasks * cost.parameters
    if cost.specialized == 0:
        raise ValueError(f"backbone {cost.name!r} has no generalized/specialized split")
    return cost.generalized + tasks * cost.specialized


def extra_parameters(cost: BackboneCost, growth: str, tasks: int) -> int:
    """Parameters stored beyond one backbone (what a method's ledger charges)."""
    return stored_parameters(cost, growth, tasks) - cost.parameters


def image_equivalents(parameters: int, image_bytes: int) -> float:
    """How many raw images the bytes of `parameters` float32 parameters would hold (603.52 for
    a ResNet-32 against CIFAR images)."""
    return parameter_bytes(parameters) / image_bytes


def exemplars_in(total_bytes: int, model_bytes: int, image_bytes: int) -> int:
    """Whole raw exemplars that fit next to `model_bytes` in `total_bytes`."""
    room = total_bytes - model_bytes
    if room < 0:
        raise BudgetError(
            f"Impossible budget: the model alone needs {model_bytes:,} bytes but the total memory is "
            f"{total_bytes:,} bytes; use a smaller backbone or a larger reference (budget.reference_*)."
        )
    return room // image_bytes


def fair_total_bytes(reference: BackboneCost, reference_growth: str, tasks: int, reference_exemplars: int, image_bytes: int) -> int:
    """Total memory of the reference method: its stored parameters after the last task plus its exemplars."""
    return parameter_bytes(stored_parameters(reference, reference_growth, tasks)) + reference_exemplars * image_bytes


def fair2exemplar(
    cost: BackboneCost,
    growth: str,
    tasks: int,
    image_bytes: int,
    reference: BackboneCost,
    reference_growth: str = "backbone",
    reference_exemplars: int = 2000,
) -> int:
    """Exemplars a method keeps after the last task under `fair` (MEMO `-ms`: 3312, 7431, ...)."""
    total = fair_total_bytes(reference, reference_growth, tasks, reference_exemplars, image_bytes)
    return exemplars_in(total, parameter_bytes(stored_parameters(cost, growth, tasks)), image_bytes)


@dataclass(frozen=True)
class BudgetPoint:
    """One `auc` budget point: the backbone of the model-based methods and the total bytes."""

    index: int                     # 1-based
    backbone: BackboneCost
    total_bytes: int
    nominal_mb: float | None = None

    @property
    def mib(self) -> float:
        return self.total_bytes / MIB

    @property
    def axis_mb(self) -> float:
        """The x value of this point in the AUC: MEMO's nominal label when known, else MiB."""
        return self.nominal_mb if self.nominal_mb is not None else self.mib


def budget_points(
    point_backbones: Sequence[BackboneCost],
    benchmark: BackboneCost,
    tasks: int,
    exemplars: int,
    image_bytes: int,
) -> list[BudgetPoint]:
    """The `auc` grid. Point p's total is the smallest memory at which every method keeps
    `exemplars` images: DER with t·P(b_p), or the single-backbone `benchmark` (MEMO's "start
    point"), whichever is larger, plus the exemplars. This reproduces 7.63 / 12.42 / 16.12 /
    19.83 / 23.54 MiB for CIFAR-100 B0 Inc10."""
    totals = [
        exemplars * image_bytes + parameter_bytes(max(tasks * b.parameters, benchmark.parameters))
        for b in point_backbones
    ]
    labels = nominal_labels([t / MIB for t in totals])
    return [
        BudgetPoint(i + 1, b, total, None if labels is None else labels[i])
        for i, (b, total) in enumerate(zip(point_backbones, totals))
    ]


def nominal_labels(mibs: Sequence[float]) -> tuple[float, ...] | None:
    """MEMO's nominal MB labels for a computed grid that matches one of NOMINAL_GRIDS_MB."""
    for grid in NOMINAL_GRIDS_MB.values():
        if len(grid) == len(mibs) and all(abs(a - b) <= _NOMINAL_TOLERANCE_MB for a, b in zip(grid, mibs)):
            return grid
    return None


def auc2exemplar(point: BudgetPoint, growth: str, tasks: int, image_bytes: int, single_backbone: BackboneCost) -> int:
    """Exemplars a method keeps after the last task at an `auc` point. Model-based methods use
    the point's backbone; single-backbone methods keep `single_backbone` and buy exemplars."""
    cost = single_backbone if growth == "single" else point.backbone
    return exemplars_in(point.total_bytes, parameter_bytes(stored_parameters(cost, growth, tasks)), image_bytes)


@dataclass
class ProtocolBudget:
    """The budget one run gets from its protocol.

    `budget_bytes` is what the memory ledger may hold (exemplars plus charged extra model
    bytes); the one backbone every method has (`base_model_bytes`) sits outside it, so
    `total_bytes = base_model_bytes + budget_bytes`. `charges_model` says whether extra model
    bytes count against `budget_bytes` (not under `benchmark`).
    """

    protocol: str
    growth: str
    cost: BackboneCost
    tasks: int
    image_bytes: int
    budget_bytes: int
    charges_model: bool
    point: BudgetPoint | None = None
    notes: list[str] = field(default_factory=list)
    fixed_exemplars: bool = False  # budget.exemplars=fixed: the last task's count at every task

    @property
    def base_model_bytes(self) -> int:
        return parameter_bytes(self.cost.parameters)

    @property
    def total_bytes(self) -> int:
        return self.base_model_bytes + self.budget_bytes

    def extra_model_bytes(self, tasks_done: int) -> int:
        return parameter_bytes(extra_parameters(self.cost, self.growth, tasks_done))

    def exemplar_room(self, tasks_done: int) -> int:
        """Bytes left for exemplars after `tasks_done` tasks (with `fixed_exemplars`, the room of
        the final count at every task)."""
        if self.fixed_exemplars:
            return min(self._room(tasks_done), self.fixed_room_bytes)
        return self._room(tasks_done)

    def _room(self, tasks_done: int) -> int:
        charged = self.extra_model_bytes(tasks_done) if self.charges_model else 0
        return self.budget_bytes - charged

    @property
    def fixed_room_bytes(self) -> int:
        """Bytes of the final exemplar count as raw images: the room at every task when fixed."""
        return self.final_exemplars() * self.image_bytes

    def final_exemplars(self) -> int:
        """Raw exemplars after the last task: MEMO's `-ms` (3312 for MEMO fair on CIFAR-100)."""
        return max(self._room(self.tasks), 0) // self.image_bytes
