"""BiC, Bias Correction (Wu et al., CVPR 2019): distillation, then a 2-parameter layer on the newest logits."""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import Field, model_validator

from retain.errors import ConfigError
from retain.budget import raw_image_bytes
from retain.engine.optim import EagerAdam, EagerSGD
from retain.methods.base import MEMORY_EPOCHS, Batch, MethodParams, Phase, Prediction, register_method
from retain.methods.bias_correction import BiasCorrection
from retain.methods.distillation import kd_loss, teacher_outputs
from retain.methods.icarl import ICaRL
from retain.methods.wa import old_weighted_loss
from retain.scenarios import TaskSpec


class BiCParams(MethodParams):
    """`split_ratio` of the memory held out per class for the bias layer (0.1 in PyCIL);
    `bias_epochs` / `bias_lr` of stage 2 default to the task's epochs and train.lr."""

    temperature: float = Field(2.0, gt=0, description="Temperature T of the knowledge distillation on old logits.")
    split_ratio: float = Field(0.1, gt=0, lt=1)
    bias_epochs: int | None = Field(None, ge=0)
    bias_lr: float | None = Field(None, gt=0)
    variant: Literal["paper", "rm-code"] = Field("paper", description="paper: a correction for each task's new classes, trained after every task; rm-code: as RM's code ran BiC, a fresh classifier at every task and one correction, on the head's last block of columns, trained with Adam (lr 0.001, batch 100) only at the task whose block that is.")

    @model_validator(mode="after")
    def _rm_code_trains_its_own_way(self) -> "BiCParams":
        if self.variant == "rm-code" and self.bias_lr is not None:
            raise ValueError("method.variant=rm-code trains the correction with RM's Adam at lr 0.001, so method.bias_lr "
                             "would have no effect; remove it or use method.variant=paper")
        return self


@register_method("bic")
class BiC(ICaRL):
    """BiC: λ·KD + (1−λ)·CE, then (α, β) trained on a held-out class-balanced split corrects the newest task's logits."""

    supports_cutmix = False  # label-dependent terms (see Method.supports_cutmix)

    Params = BiCParams
    transient = ("val_stream", "val_slots", "held_out")  # drawn again by before_task / before_phase
    persist = ("bias",)
    primary_score = "cnn"
    score_labels = {"cnn": "BiC-corrected CNN"}
    free_state = {"bias": "the bias layers' α and β, two numbers per task; BiC's budget counts the exemplars only"}

    def __init__(self, ctx, params: BiCParams) -> None:
        super().__init__(ctx, params)
        self.bias = BiasCorrection().to(ctx.device)
        self.val_stream = torch.empty(0, dtype=torch.long)
        self.val_slots = torch.empty(0, dtype=torch.long)
        self.held_out = torch.zeros(0, dtype=torch.bool, device=ctx.device)

    def check_setup(self) -> None:
        super().check_setup()
        if self.streaming:
            raise ConfigError(
                f"method.name='bic' holds a validation split out of a memory rebuilt at task end; "
                f"memory.policy={self.ctx.settings.memory.policy!r} is a streaming policy. Use herding or random."
            )

    # ------------------------------------------------------------------ the validation split
    def before_task(self, task: TaskSpec) -> None:
        super().before_task(task)
        self.val_stream = torch.empty(0, dtype=torch.long)
        self.val_slots = torch.empty(0, dtype=torch.long)
        self.held_out = torch.zeros(len(self.memory.store), dtype=torch.bool, device=self.ctx.device)
        if task.index == 0:
            return
        if self.params.variant == "rm-code":
            self._rm_code_head_and_correction(task)
        elif task.new_classes:
            # The logits of the task's new classes (a blurry task: its home classes, since every
            # class is already in the head) get the new (α, β).
            self.bias.add(min(task.new_classes), max(task.new_classes) + 1)
            self.bias.to(self.ctx.device)
        per_class = self.validation_per_class(self.known_classes(task))
        generator = torch.Generator().manual_seed(self.ctx.settings.seed * 1009 + task.index)
        labels = self.ctx.dataset.train.labels.cpu()
        stream = torch.as_tensor(task.train_indices)
        chosen = []
        for c in task.new_classes:
            rows = stream[labels[stream] == c]
            chosen.append(rows[torch.randperm(rows.numel(), generator=generator)[:per_class]])
        self.val_stream = torch.cat(chosen) if chosen else self.val_stream
        self._hold_out_memory_rows(per_class)

    def _rm_code_head_and_correction(self, task: TaskSpec) -> None:
        """RM's BiC (methods/bic.py, finetune.py): a fresh classifier at every task (only the
        distillation trains it once every class is learned); its `bias_forward` always applies
        the correction of the head's last block of k = |home classes| columns, which only the
        task numbered width/k − 1 trains (an untrained correction is the identity)."""
        width = self.network.head.num_classes
        self.network.head.reset(width)
        if self._rm_code_corrects(task):
            self.bias.add(width - len(task.new_classes), width)
            self.bias.to(self.ctx.device)

    def _rm_code_corrects(self, task: TaskSpec) -> bool:
        """rm-code: whether `task` is the one that trains RM's applied correction (see above)."""
        k = len(task.new_classes)
        return k > 0 and task.index == round(self.network.head.num_classes / k) - 1

    def _hold_out_memory_rows(self, per_class: int) -> None:
        """Hold out the lowest-priority exemplars of each old class (keeping one for training)."""
        store = self.memory.store
        slots = []
        for c in range(self.old_classes):
            rows = store.slots_of_class(c).cpu()
            take = min(per_class, max(rows.numel() - 1, 0))
            slots.append(rows[rows.numel() - take :])
        self.val_slots = torch.cat(slots) if slots else torch.empty(0, dtype=torch.long)
        self.held_out = torch.zeros(len(store), dtype=torch.bool, device=self.ctx.device)
        self.held_out[self.val_slots.to(self.ctx.device)] = True

    def before_phase(self, task: TaskSpec, phase: Phase) -> None:
        super().before_phase(task, phase)  # online: the memory update before the memory epochs
        if phase.name == MEMORY_EPOCHS and task.index > 0:
            # The update renumbered the memory's slots: hold the old classes' rows out again.
            self._hold_out_memory_rows(self.validation_per_class(self.known_classes(task)))

    def stream_by_class(self, task: TaskSpec) -> dict[int, torch.Tensor]:
        candidates = super().stream_by_class(task)
        if not (self.online and self.val_stream.numel()):
            return candidates
        # Online, the memory epochs would train on held-out stream rows that entered the memory.
        indices = torch.as_tensor(task.train_indices)
        kept = indices[~torch.isin(indices, self.val_stream)].to(self.ctx.dataset.train.labels.device)
        labels = self.ctx.dataset.train.labels[kept]
        return {c: self.ctx.dataset.train.images[kept[labels == c]] for c in candidates}

    @staticmethod
    def known_classes(task: TaskSpec) -> int:
        """Classes learned before `task` (PyCIL's `_known_classes`)."""
        return len(set(task.seen_classes) - set(task.new_classes))

    def validation_per_class(self, known: int) -> int:
        """split_ratio × (exemplar capacity in images) / the classes known before the task, at
        least 1: PyCIL's `val_samples_per_class = int(split_ratio * memory_size / known_classes)`
        (models/bic.py), so the held-out split shrinks as the old classes grow, not the seen ones."""
        room = self.memory.capacity_bytes(self.reserved_bytes())
        images = room // raw_image_bytes(self.ctx.dataset.image_shape)
        return max(1, int(self.params.split_ratio * images / max(known, 1)))

    def training_phases(self, task: TaskSpec) -> list[Phase]:
        phases = super().training_phases(task)
        if self.val_stream.numel():
            keep = ~torch.isin(phases[0].stream, self.val_stream)
            phases[0].stream = phases[0].stream[keep]
        return phases

    # ------------------------------------------------------------------ stage 1
    def training_loss(self, batch: Batch) -> torch.Tensor:
        images, labels = batch.images, batch.labels
        if self.val_slots.numel():
            slots = batch.indices.clamp(max=max(self.held_out.numel() - 1, 0))
            keep = ~(batch.from_memory & self.held_out[slots])
            images, labels = images[keep], labels[keep]
        logits = self.bias(self.network(images)["logits"])
        ce = F.cross_entropy(logits, labels)
        if self.teacher is None:
            return ce
        with torch.no_grad():  # the teacher's corrected logits are targets (a blurry head covers the newest range)
            old = self.bias(teacher_outputs(self.teacher, images)["logits"])
        kd = kd_loss(logits[:, : self.old_classes], old, self.params.temperature)
        return old_weighted_loss(ce, kd, self.old_classes, logits.shape[1])

    # ------------------------------------------------------------------ stage 2
    def after_task(self, task: TaskSpec) -> None:
        if task.index > 0 and task.new_classes:
            self.train_bias_layer(task)
        super().after_task(task)

    def train_bias_layer(self, task: TaskSpec) -> None:
        """Fit the newest (α, β) on the held-out split with the network frozen. The logits are
        computed once with the evaluation transform: only the 2 parameters change. rm-code: only
        at the task that added a correction, with RM's Adam (lr 0.001) at batch 100."""
        if self.params.variant == "rm-code" and not self._rm_code_corrects(task):
            return
        ctx = self.ctx
        images = torch.cat([ctx.train_images(self.val_stream), self.memory.store.gather(self.val_slots.to(ctx.device))])
        labels = torch.cat([ctx.train_labels(self.val_stream), self.memory.store.labels[self.val_slots].to(ctx.device)])
        logits = ctx.forward_eval(self.network, images)["logits"].detach()
        parameters = self.bias.newest_parameters()
        if self.params.variant == "rm-code":
            optimizer: torch.optim.Optimizer = EagerAdam(parameters, lr=0.001)
            batch_size = 100
        else:
            optimizer = EagerSGD(parameters, lr=self.params.bias_lr or ctx.settings.train.lr, momentum=0.9)
            batch_size = ctx.settings.train.batch_size
        epochs = self.params.bias_epochs if self.params.bias_epochs is not None else ctx.epochs_for(task)
        for _ in range(epochs):
            order = torch.randperm(labels.numel(), generator=ctx.generator).to(labels.device)
            for chunk in order.split(batch_size):
                loss = F.cross_entropy(self.bias(logits[chunk]), labels[chunk])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
        for parameter in parameters:
            parameter.requires_grad_(False)

    # ------------------------------------------------------------------ evaluation and state
    @torch.inference_mode()
    def predict(self, images: torch.Tensor) -> Prediction:
        prediction = super().predict(images)
        prediction.logits = self.bias(prediction.logits)
        return prediction

    def extra_results(self) -> dict[str, Any]:
        return {"bias_layers": self.bias.state()}
