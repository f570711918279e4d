"""LwF (Learning without Forgetting, Li & Hoiem 2016) in its class-incremental form, as a retain plugin.

Each task: cross-entropy on the new classes' logits, plus λ · KD(T) between the old classes'
logits of the network and those of a frozen copy taken before the task. No memory.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field

from retain import Batch, Method, MethodParams, TaskSpec, frozen_copy, kd_loss, register_method


class LwFParams(MethodParams):
    """LwF's hyperparameters: `method.distill_weight` (λ) and `method.temperature` (T)."""

    distill_weight: float = Field(3.0, ge=0)
    temperature: float = Field(2.0, gt=0)


@register_method("lwf")
class LwF(Method):
    """LwF: cross-entropy on the new classes + distillation of the old classes' logits from the previous model."""

    Params = LwFParams
    supports_cutmix = False  # the new-class cross-entropy shifts each sample's own label
    # What a checkpoint keeps besides the network, so a resumed run continues exactly:
    persist = ("old_classes",)   # plain values, tensors, generators, sets, objects with state_dict
    teachers = ("teacher",)      # frozen copies of the network (or None)

    def __init__(self, ctx, params: LwFParams) -> None:
        super().__init__(ctx, params)
        self.teacher: torch.nn.Module | None = None
        self.old_classes = 0

    def before_task(self, task: TaskSpec) -> None:
        self.old_classes = len(task.seen_classes) - len(task.new_classes)
        self.teacher = frozen_copy(self.network) if self.old_classes else None
        super().before_task(task)  # grows the head for the new classes

    def training_loss(self, batch: Batch) -> torch.Tensor | tuple[torch.Tensor, dict[str, torch.Tensor]]:
        logits = self.network(batch.images)["logits"]
        old = self.old_classes
        new_loss = F.cross_entropy(logits[:, old:], batch.labels - old)
        if self.teacher is None:
            return new_loss
        with torch.no_grad():
            teacher_logits = self.teacher(batch.images)["logits"]
        distill = kd_loss(logits[:, :old], teacher_logits[:, :old], self.params.temperature)
        return new_loss + self.params.distill_weight * distill, {"ce": new_loss.detach(), "kd": distill.detach()}

