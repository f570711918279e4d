"""The `budget` section: which protocol (benchmark, fair, auc) derives a run's memory budget."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from retain.config.strict import StrictSection

# The backbones of model-based methods at MEMO's five AUC budget points (CIFAR ResNets).
DEFAULT_POINT_BACKBONES: tuple[str, ...] = ("convnet2", "resnet14", "resnet20", "resnet26", "resnet32")


class BudgetConfig(StrictSection):
    """The `budget` section: which protocol derives the memory budget, and its reference.

    `reference_*` describe the method whose total memory everyone gets under `fair` (DER with
    ResNet-32 and 2000 exemplars by default). `points` are the backbones of the model-based
    methods at the `auc` budget points; `point` (1-based) runs one of them, otherwise `auc`
    runs them all and reports AUC-A and AUC-L.

    `exemplars` (fair and auc only): `fixed` (default) keeps the same number of exemplars at
    every task, the count the budget leaves after the last task (the official MEMO scripts'
    `-ms`, fixed for the whole run); `fill` keeps whatever fits after each task (more in early
    tasks, while a model-growing method has few branches).
    """

    protocol: Literal["benchmark", "fair", "auc"] = "benchmark"
    reference_method: str = "der"
    reference_backbone: str = "resnet32"
    reference_exemplars: int = Field(2000, ge=0)
    points: list[str] = Field(default_factory=lambda: list(DEFAULT_POINT_BACKBONES))
    point: int | None = Field(None, ge=1)
    exemplars: Literal["fixed", "fill"] | None = None  # None: fixed under fair/auc

    @field_validator("points")
    @classmethod
    def _points_not_empty(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("name at least one backbone, e.g. [convnet2, resnet14, resnet20, resnet26, resnet32]")
        return value

    @model_validator(mode="after")
    def _exemplars_need_a_protocol(self) -> "BudgetConfig":
        if self.exemplars is not None and self.protocol == "benchmark":
            raise ValueError(
                f"budget.exemplars={self.exemplars} decides how many exemplars a fair or auc budget keeps at each "
                "task; budget.protocol=benchmark takes memory.budget as given. Set budget.protocol=fair or auc, "
                "or remove budget.exemplars."
            )
        return self

    @model_validator(mode="after")
    def _point_exists(self) -> "BudgetConfig":
        if self.point is not None and self.point > len(self.points):
            raise ValueError(f"budget.point={self.point} but budget.points has {len(self.points)} entries (1..{len(self.points)})")
        return self
