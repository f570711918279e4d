"""WA, Weight Aligning (Zhao et al., CVPR 2020): λ-weighted distillation, then new-class rows rescaled."""

from __future__ import annotations

from typing import Any

import torch
from pydantic import Field

from retain.methods.base import Batch, MethodParams, classification_loss, register_method
from retain.methods.bias_correction import align_and_record, alignment_results
from retain.methods.distillation import kd_loss, teacher_outputs
from retain.methods.icarl import ICaRL
from retain.scenarios import TaskSpec


class WAParams(MethodParams):
    """`temperature` of the distillation (T = 2); `align` rescales the new-class rows after each task."""

    temperature: float = Field(2.0, gt=0, description="Temperature T of the knowledge distillation on old logits.")
    align: bool = True


def old_weighted_loss(ce: torch.Tensor, kd: torch.Tensor, old_classes: int, total_classes: int) -> torch.Tensor:
    """(1 − λ)·CE + λ·KD with λ = #old / #total classes (WA and BiC's stage 1)."""
    lam = old_classes / total_classes
    return (1 - lam) * ce + lam * kd


@register_method("wa")
class WA(ICaRL):
    """WA: herding memory, (1−λ)·CE + λ·KD(T=2) with λ = #old/#total, weight alignment after each task."""

    Params = WAParams
    primary_score = "cnn"
    score_labels = {"cnn": "WA-aligned CNN"}
    persist = ("alignments",)

    def __init__(self, ctx, params: WAParams) -> None:
        super().__init__(ctx, params)
        self.alignments: list[dict[str, Any]] = []  # one record per aligned task (γ, norms)

    def training_loss(self, batch: Batch) -> torch.Tensor:
        logits = self.network(batch.images)["logits"]
        ce = classification_loss(logits, batch)
        if self.teacher is None:
            return ce
        old = teacher_outputs(self.teacher, batch.images)["logits"]
        kd = kd_loss(logits[:, : self.old_classes], old, self.params.temperature)
        return old_weighted_loss(ce, kd, self.old_classes, logits.shape[1])

    def after_task(self, task: TaskSpec) -> None:
        if self.params.align and self.teacher is not None:
            self.alignments.append(align_and_record(self.network.head, self.old_classes, task.index, "WA"))
        super().after_task(task)

    def extra_results(self) -> dict[str, Any]:
        return alignment_results(self.alignments)
