"""The shared base of MEMO and DER: one new branch per task, auxiliary loss, weight alignment."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from pydantic import Field

from retain.budget import parameter_bytes
from retain.methods.base import Batch, MethodParams, classification_loss
from retain.methods.bias_correction import align_and_record, alignment_results
from retain.methods.exemplar import ExemplarMethod
from retain.models import count_parameters
from retain.models.adaptive import auxiliary_targets
from retain.scenarios import TaskSpec


class ExpandableParams(MethodParams):
    """`aux_weight` scales the auxiliary "old classes as one + new classes" loss (α_aux = 1 in
    MEMO and DER); `align` applies weight alignment to the head after each task."""

    aux_weight: float = Field(1.0, ge=0)
    align: bool = True


class ExpandableMethod(ExemplarMethod):
    """A method whose network grows a branch per task (an AdaptiveNet), trained with
    CE + α_aux · CE_aux on task data ∪ herding exemplars, weight-aligned after each task.

    The branches beyond the first are charged to the memory budget under the `fair` and `auc`
    protocols (ledger item `extra_branches`); under `benchmark` they are recorded in
    `method_results.model_bytes` only, as in the traditional protocol.
    """

    Params: ClassVar[type[MethodParams]] = ExpandableParams
    default_policy: ClassVar[str] = "herding"
    supports_full_head: ClassVar[bool] = False  # a head block per expansion
    model_growth: ClassVar[str] = "backbone"
    # task_classes: the head size after each expansion (before_restore grows the net to it).
    persist = ("task_classes", "trunk_frozen", "old_classes", "alignments", "model_bytes")

    blurry_refusal: ClassVar[str] = (
        "DER and MEMO add a branch, a head block and an auxiliary new-versus-old classifier for the classes each "
        "task introduces, and a blurry task after the first introduces none; use scenario.kind=class-incremental.")

    def __init__(self, ctx, params: ExpandableParams) -> None:
        self.task_classes: list[int] = []   # head size after each expansion (rebuilds the net on load)
        self.old_classes = 0
        self.alignments: list[dict[str, Any]] = []  # one record per aligned task (γ, norms)
        self.model_bytes: list[int] = []
        super().__init__(ctx, params)

    # ------------------------------------------------------------------ network growth
    def before_task(self, task: TaskSpec) -> None:
        self.current_task = task
        self.old_classes = self.network.num_classes
        self._expand(len(task.seen_classes))

    def _expand(self, num_classes: int) -> None:
        self.network.expand(num_classes)
        self.task_classes.append(num_classes)
        if self.ctx.settings.channels_last and self.ctx.dataset.image_shape[0] > 1:
            self.network.branches[-1].to(memory_format=torch.channels_last)

    # ------------------------------------------------------------------ training
    def training_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        out = self.network(batch.images)
        loss = classification_loss(out["logits"], batch)
        terms = {"ce": loss.detach()}
        if self.old_classes > 0 and self.params.aux_weight > 0:
            aux = F.cross_entropy(out["aux_logits"], auxiliary_targets(batch.labels, self.old_classes))
            loss = loss + self.params.aux_weight * aux
            terms["aux"] = aux.detach()
        return loss, terms

    def after_task(self, task: TaskSpec) -> None:
        if self.params.align and self.old_classes > 0:
            name = self.ctx.settings.method_name.upper()
            self.alignments.append(align_and_record(self.network.head, self.old_classes, task.index, name))
        self.model_bytes.append(parameter_bytes(count_parameters(self.network)))
        super().after_task(task)

    # ------------------------------------------------------------------ budget
    @property
    def charges_model(self) -> bool:
        return self.ctx.settings.charges_model

    def extra_branch_parameters(self) -> int:
        """Parameters of every branch after the first: what this net stores beyond one backbone."""
        return sum(count_parameters(branch) for branch in list(self.network.branches)[1:])

    def extra_ledger_items(self) -> dict[str, int]:
        if not self.charges_model:
            return {}
        items = {"extra_branches": parameter_bytes(self.extra_branch_parameters())}
        if self.ctx.settings.memory.charge_head:
            heads = [self.network.head] + ([self.network.aux_head] if self.network.aux_head is not None else [])
            items["heads"] = parameter_bytes(sum(count_parameters(h, exclude_head=False) for h in heads))
        return items

    def extra_results(self) -> dict[str, Any]:
        return {
            "model_growth": self.model_growth,
            "model_bytes": self.model_bytes,            # stored parameters (heads excluded) after each task
            "extra_model_bytes_charged": self.charges_model,
            **alignment_results(self.alignments),
        }

    @property
    def trunk_frozen(self) -> bool:
        """Whether the network's shared trunk is frozen (MEMO's train_base=false)."""
        return self.network.trunk_frozen

    @trunk_frozen.setter
    def trunk_frozen(self, frozen: bool) -> None:
        if frozen and not self.network.trunk_frozen:
            self.network.freeze_trunk()

    def before_restore(self, state: dict[str, Any]) -> None:
        for num_classes in state["task_classes"][len(self.task_classes):]:
            self._expand(num_classes)
        self.trunk_frozen = state["trunk_frozen"]
