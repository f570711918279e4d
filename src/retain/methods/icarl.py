"""iCaRL: herding exemplars, distillation from the previous model, nearest-mean-of-exemplars."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field, model_validator

from retain.errors import ConfigError
from retain.budget import parameter_bytes
from retain.methods.base import Batch, MethodParams, classification_loss, register_method
from retain.methods.distillation import frozen_copy, kd_loss, sigmoid_distillation, teacher_outputs
from retain.methods.exemplar import ExemplarMethod
from retain.models import count_parameters
from retain.scenarios import TaskSpec


class ICaRLParams(MethodParams):
    """`loss: pycil` is CE over all classes + softened KD on old logits (MEMO tables);
    `loss: sigmoid` is the original iCaRL binary cross-entropy with sigmoid distillation."""

    loss: Literal["pycil", "sigmoid"] = "pycil"
    temperature: float = Field(2.0, gt=0, description="Temperature T of the knowledge distillation on old logits.")
    variant: Literal["paper", "rm-code"] = Field("paper", description="paper: the loss above over every row; rm-code: as RM's code ran iCaRL, CE on rows of classes new to the task, sigmoid distillation on the rest, and an optimiser without the classifier (which stays at its initialisation).")

    @model_validator(mode="after")
    def _rm_code_has_its_own_loss(self) -> "ICaRLParams":
        chosen = sorted(k for k, v in {"loss": "pycil", "temperature": 2.0}.items() if getattr(self, k) != v)
        if self.variant == "rm-code" and chosen:
            raise ValueError(f"method.variant=rm-code has RM's own loss (CE on new-class rows, sigmoid distillation on "
                             f"old-class rows), so {', '.join('method.' + c for c in chosen)} would have no effect; "
                             "remove it or use method.variant=paper")
        return self


@register_method("icarl")
class ICaRL(ExemplarMethod):
    """iCaRL with herding exemplars and distillation; reports CNN and NME accuracy (NME is primary)."""

    Params = ICaRLParams
    default_policy = "herding"
    supports_full_head = False  # distils the rows of the classes before the task
    primary_score = "nme"
    persist = ("old_classes",)
    teachers = ("teacher",)

    def __init__(self, ctx, params: ICaRLParams) -> None:
        super().__init__(ctx, params)
        self.teacher: torch.nn.Module | None = None
        self.old_classes = 0
        if self.rm_code and ctx.settings.cutmix:
            raise ConfigError(
                "method.variant=rm-code with method.name='icarl' distils every row of a class learned before the task "
                "on the row's own teacher output, which a CutMix-ed row does not have. Use augment.cutmix=false."
            )

    @property
    def rm_code(self) -> bool:
        """iCaRL's own rm-code variant (BiC and WA derive from this class with their own Params)."""
        return isinstance(self.params, ICaRLParams) and self.params.variant == "rm-code"

    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        """rm-code: RM's optimiser holds the feature extractor only, so the classifier never trains."""
        if not self.rm_code:
            return super().trainable_parameters()
        head = {id(p) for p in self.network.head.parameters()}
        return [p for p in self.network.parameters() if p.requires_grad and id(p) not in head]

    def before_task(self, task: TaskSpec) -> None:
        if task.index > 0:
            self.teacher = frozen_copy(self.network)
            self.old_classes = self.network.head.num_classes
        super().before_task(task)

    def extra_ledger_items(self) -> dict[str, int]:
        if self.ctx.settings.memory.charge_teacher and self.teacher is not None:
            return {"teacher": parameter_bytes(count_parameters(self.teacher, exclude_head=False))}
        return {}

    def training_loss(self, batch: Batch) -> torch.Tensor | tuple[torch.Tensor, dict[str, torch.Tensor]]:
        logits = self.network(batch.images)["logits"]
        if self.rm_code:
            return self._rm_code_loss(logits, batch)
        if self.params.loss == "sigmoid":
            return self._sigmoid_loss(logits, batch)
        ce = classification_loss(logits, batch)
        if self.teacher is None:
            return ce
        old = teacher_outputs(self.teacher, batch.images)["logits"]
        kd = kd_loss(logits[:, : self.old_classes], old, self.params.temperature)
        return ce + kd, {"ce": ce.detach(), "kd": kd.detach()}  # the terms are logged per epoch

    def _sigmoid_loss(self, logits: torch.Tensor, batch: Batch) -> torch.Tensor:
        targets = F.one_hot(batch.labels, logits.shape[1]).float()
        if self.teacher is None:
            return F.binary_cross_entropy_with_logits(logits.float(), targets)
        old = teacher_outputs(self.teacher, batch.images)["logits"]
        new_part = F.binary_cross_entropy_with_logits(logits[:, self.old_classes :].float(), targets[:, self.old_classes :])
        old_part = sigmoid_distillation(logits[:, : self.old_classes], old)
        width = logits.shape[1]
        return (new_part * (width - self.old_classes) + old_part * self.old_classes) / width

    def _rm_code_loss(self, logits: torch.Tensor, batch: Batch) -> torch.Tensor:
        """RM's iCaRL: CE on the rows of classes not learned before the task, and on the others
        Σ over learned classes of the mean BCE between sigmoid(logit) and the teacher's sigmoid.
        In a blurry stream every class is learned after task 1, so from task 2 on only the
        distillation is left (RM's λ = 1)."""
        if self.teacher is None:
            return classification_loss(logits, batch)
        old_rows = batch.labels < self.old_classes
        loss = logits.new_zeros((), dtype=torch.float32)
        if bool((~old_rows).any()):
            loss = loss + F.cross_entropy(logits[~old_rows].float(), batch.labels[~old_rows])
        if bool(old_rows.any()):
            old = teacher_outputs(self.teacher, batch.images[old_rows])["logits"][:, : self.old_classes]
            per_class = F.binary_cross_entropy_with_logits(
                logits[old_rows, : self.old_classes].float(), torch.sigmoid(old.float()), reduction="none").mean(dim=0)
            loss = loss + per_class.sum()
        return loss
