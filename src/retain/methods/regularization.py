"""The quadratic penalty that EWC and RWalk add (as RM ran them), and their shared replay base.

Loss = CE (CutMix-aware) + λ·Σ_slots Σ_i F_i (θ_i − θ*_i)², over every parameter except the
classifier head (RM leaves out the final layer's weight and bias; its head is re-initialised at
every task anyway). Both methods also replay a reservoir memory under RM's stream protocol.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from pydantic import Field
from torch import nn

from retain.methods.base import MEMORY_EPOCHS, Batch, Phase, classification_loss
from retain.methods.er_mixed import ERMixed, ERMixedParams
from retain.scenarios import TaskSpec

Tensors = dict[str, torch.Tensor]


def regularized_parameters(network: nn.Module) -> dict[str, nn.Parameter]:
    """Trainable parameters by name, the classifier head's (modules marked `is_head`) left out."""
    head_ids = {id(p) for m in network.modules() if getattr(m, "is_head", False) for p in m.parameters()}
    return {n: p for n, p in network.named_parameters() if p.requires_grad and id(p) not in head_ids}


def snapshot(params: dict[str, nn.Parameter]) -> Tensors:
    """Detached copies (not views: RM's RWalk used views and its path score stayed zero)."""
    return {n: p.detach().clone() for n, p in params.items()}


class QuadraticPenalty:
    """Σ over slots of Σ_i F_i (θ_i − θ*_i)². `online` keeps one running slot (RM in online
    streams); otherwise every consolidation adds a slot."""

    def __init__(self, online: bool) -> None:
        self.online = online
        self.slots: list[dict[str, Tensors]] = []

    def consolidate(self, importance: Tensors, anchor: Tensors) -> None:
        slot = {"importance": importance, "anchor": anchor}
        if self.online and self.slots:
            self.slots[0] = slot
        else:
            self.slots.append(slot)

    def __call__(self, params: dict[str, nn.Parameter]) -> torch.Tensor:
        device = next(iter(params.values())).device
        total = torch.zeros((), device=device)
        for slot in self.slots:
            for n, p in params.items():
                total = total + (slot["importance"][n] * (p - slot["anchor"][n]).pow(2)).sum()
        return total

    def total_importance(self) -> float:
        return float(sum(float(f.sum()) for slot in self.slots for f in slot["importance"].values()))

    def state_dict(self) -> dict[str, Any]:
        return {"online": self.online, "slots": [{k: dict(v) for k, v in s.items()} for s in self.slots]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.online = bool(state["online"])
        self.slots = [{k: dict(v) for k, v in s.items()} for s in state["slots"]]


class RegularizationParams(ERMixedParams):
    """`reg_coef` is λ (RM: 100). `online` keeps one slot that every consolidation replaces;
    unset, it follows `scenario.stream` (RM: `online_reg = "online" in stream_env`)."""

    reg_coef: float = Field(100.0, ge=0)
    online: bool | None = None


class RegularizedReplay(ERMixed):
    """RM's regularisation baselines: reservoir replay under RM's stream protocol plus a quadratic
    penalty.

    As in RM's `Regularization.train`, the importance is computed and consolidated at the end of
    every training call, on that call's rows: offline once per task (stream ∪ memory, before the
    memory update); online twice, after the stream pass (stream ∪ memory) and after the memory
    epochs (the updated memory). Subclasses compute it in `importance(rows)`.
    """

    Params = RegularizationParams
    # The running penalty sum of the task in progress is state too: an epoch checkpoint without it
    # made a resumed run report another mean penalty for that task.
    persist = ("penalty", "penalty_sums", "importance_sums", "_penalty_sum", "_steps")
    free_state = {
        "penalty": "the quadratic penalty's importance and anchor θ*, two copies of the regularised parameters: "
                   "statistics of the regulariser, left out of the budget as RM's EWC and RWalk, whose "
                   "memory_size counts the replayed images only",
        "_penalty_sum": "one number: the running sum behind the mean penalty results.json reports"}
    default_policy = "reservoir"

    def __init__(self, ctx, params: RegularizationParams) -> None:
        super().__init__(ctx, params)
        self.params_to_regularize = regularized_parameters(self.network)
        single_slot = params.online if params.online is not None else self.online
        self.penalty = QuadraticPenalty(single_slot)
        self.penalty_sums: list[float] = []   # mean penalty (before λ) over each task's steps
        self.importance_sums: list[float] = []
        self._penalty_sum = torch.zeros((), device=ctx.device)
        self._steps = 0

    def training_loss(self, batch: Batch):
        logits = self.network(batch.images)["logits"]
        ce = classification_loss(logits, batch)
        if not self.penalty.slots:
            return ce
        penalty = self.penalty(self.params_to_regularize)
        self._penalty_sum += penalty.detach().float()
        self._steps += 1
        return ce + self.params.reg_coef * penalty, {"ce": ce.detach(), "penalty": penalty.detach()}

    # RM consolidates at the end of every training call; a subclass may consolidate once per task.
    consolidates_every_call: ClassVar[bool] = True

    def before_phase(self, task: TaskSpec, phase: Phase) -> None:
        if phase.name == MEMORY_EPOCHS and self.consolidates_every_call:  # online: the stream pass ends a call
            self.consolidate(self.call_rows(task, with_stream=True))
        super().before_phase(task, phase)  # then the memory update

    def after_task(self, task: TaskSpec) -> None:
        # Offline the call's rows are the stream ∪ the memory before its update; online the
        # memory epochs trained on the updated memory only.
        self.consolidate(self.call_rows(task, with_stream=not (self.online and self.consolidates_every_call)))
        super().after_task(task)
        self.penalty_sums.append(float(self._penalty_sum) / max(self._steps, 1))  # results.json's mean penalty
        self._penalty_sum.zero_()
        self._steps = 0
        self.importance_sums.append(self.penalty.total_importance())

    def consolidate(self, rows: torch.Tensor) -> None:
        """Importance of this training call (restarted from zero), anchored at the current weights:
        a new slot, or the single slot replaced (`online`)."""
        self.penalty.consolidate(self.importance(rows), snapshot(self.params_to_regularize))

    def call_rows(self, task: TaskSpec, with_stream: bool) -> torch.Tensor:
        """uint8 rows of the training call that just ended: the task's stream (if it took part) and the memory."""
        store = self.memory.store
        memory = store.gather(torch.arange(len(store)))
        if not with_stream:
            return memory
        stream = self.ctx.train_images(torch.as_tensor(task.train_indices))
        return torch.cat([stream, memory.to(stream.device)])

    def importance(self, rows: torch.Tensor) -> Tensors:
        raise NotImplementedError

    def extra_results(self) -> dict[str, Any]:
        return {"mean_penalty_per_task": self.penalty_sums, "importance_sum_per_task": self.importance_sums}

