"""ER-mixed: Rainbow Memory's memory-replaying "finetune", and the stream protocol RM's methods share.

RM's `finetune` mode is not memory-free: memory rows are shuffled into the stream's loader, the
head is re-initialised at every task, and the memory is updated once per task from the task's
stream ∪ the current memory (spec §3.2-3.4, §6 "Finetune"). Two streams (`scenario.stream`):

* offline: `train.epochs` over stream + memory, then the memory update (after_task);
* online: one pass over stream + memory, the memory update, then `train.epochs` over the
  memory only (the stream is cleared).

Subclasses (rainbow, ewc, rwalk) change the batch composition, the policy or the loss.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
from pydantic import Field

from retain.augment import rm_perturbations, rm_randaugment_perturbations
from retain.budget.units import raw_image_bytes
from retain.budget.capacity import row_capacity
from retain.memory.policies.rainbow import RankFn, perturbed_predictions, rm_memory_update, variation_ratio
from retain.methods.base import Batch, MethodParams, Phase, grow_head_to, register_method
from retain.methods.exemplar import ExemplarMethod
from retain.scenarios import TaskSpec


class ERMixedParams(MethodParams):
    """`reset_head`: a fresh head over the exposed classes at every task (RM). The perturbation
    set scores uncertainty for `memory.policy: rainbow`: RM's `vr_randaug` ("randaugment",
    `num_perturbations` independent RandAugment draws) or its fixed 12-transform `vr` set."""

    reset_head: bool = True
    perturbations: Literal["randaugment", "vr"] = Field("randaugment", description="Perturbation set that scores uncertainty for memory.policy: rainbow: RandAugment draws or RM's fixed 12-transform set.")
    num_perturbations: int = Field(12, ge=1)


@register_method("er_mixed", aliases=("er-mixed",))
class ERMixed(ExemplarMethod):
    """RM's finetune with memory: stream and memory in one shuffled pool, RM's memory update
    (random per class by default; any selection or streaming policy works)."""

    Params = ERMixedParams
    default_policy = "random"
    supports_full_head = False  # RM re-initialises (or grows) the head to the seen classes
    fixed_replay = "concat"     # RM's finetune loader: one shuffled pool
    replay_modes = ("concat",)
    supports_head_norm = True   # the head is only reset or grown, never read row by row

    # ------------------------------------------------------------------ task and phases
    def before_task(self, task: TaskSpec) -> None:
        self.current_task = task
        if self.params.reset_head:
            self.network.head.reset(len(task.seen_classes))
        else:
            grow_head_to(self.network, len(task.seen_classes))

    def stream_phase(self, stream: torch.Tensor, epochs: int, name: str) -> Phase:
        """Stream and memory rows shuffled into one pool (RM's finetune loader)."""
        return Phase(stream=stream, epochs=epochs, memory="concat", name=name)

    def memory_only_batch_size(self) -> int:
        return self.ctx.settings.train.batch_size

    def after_step(self, batch: Batch) -> None:
        """No insertion during training: the memory changes only in `update_memory`."""

    def after_task(self, task: TaskSpec) -> None:
        self.update_memory(task)  # a no-op when the online protocol already updated it

    # ------------------------------------------------------------------ memory update
    def update_memory(self, task: TaskSpec) -> None:
        """RM's update, once per task: a streaming policy (reservoir) sees this task's stream;
        a selection policy chooses from this task's stream ∪ the current memory."""
        if self.updated_task == task.index:
            return
        self.updated_task = task.index
        if self.streaming:
            self._offer_stream(task)
        else:
            self._select(task)

    def _offer_stream(self, task: TaskSpec) -> None:
        indices = torch.as_tensor(task.train_indices)
        order = indices[torch.randperm(indices.numel(), generator=self.memory.generator)]
        for part in order.split(self.ctx.settings.train.batch_size):
            self.memory.insert_stream(
                self.ctx.train_images(part), self.ctx.train_labels(part), task=task.index,
                reserved_bytes=self.reserved_bytes(),
            )

    def _select(self, task: TaskSpec) -> None:
        store = self.memory.store
        stream_images = self.ctx.train_images(torch.as_tensor(task.train_indices))
        stream_labels = self.ctx.train_labels(torch.as_tensor(task.train_indices)).cpu()
        num_stream = stream_labels.numel()
        memory_images = store.gather(torch.arange(len(store)))
        labels = torch.cat([stream_labels, store.labels.cpu()])
        capacity = self._row_capacity(stream_images)
        classes = list(task.seen_classes)
        # RM's task 1 is equal-class random sampling; later tasks rank with the policy.
        rank = None
        if task.index > 0:
            candidates = torch.cat([stream_images, memory_images.to(stream_images.device)])
            rank = self.rank_function(candidates, capacity // max(len(classes), 1))
        kept = rm_memory_update(labels, capacity, classes, self.memory.generator, rank)
        old = kept[kept >= num_stream] - num_stream
        new = kept[kept < num_stream]
        store.keep(old.to(store.device))
        if new.numel():
            store.add(stream_images[new.to(stream_images.device)], stream_labels[new].to(store.device), task=task.index)
        self._trim_to_budget()

    def rank_function(self, candidates: torch.Tensor, quota: int) -> RankFn:
        """Priority order of one class's candidates under the configured policy."""
        policy = self.memory.policy
        generator = self.memory.generator
        if getattr(policy, "needs_uncertainty", False):
            scores = self.uncertainty(candidates).cpu()
            return lambda c, pos: policy.order(pos.numel(), generator, limit=quota, scores=scores[pos])
        if policy.needs_features:
            features = self.normalized_features(candidates).cpu()
            return lambda c, pos: policy.order(pos.numel(), generator, features=features[pos], limit=quota)
        return lambda c, pos: policy.order(pos.numel(), generator)

    def perturbations(self):
        if self.params.perturbations == "vr":
            return rm_perturbations()
        return rm_randaugment_perturbations(self.params.num_perturbations)

    @torch.no_grad()
    def uncertainty(self, images: torch.Tensor) -> torch.Tensor:
        """Variation ratio of each uint8 image: eval-mode predictions over the perturbation set,
        each perturbation applied to the uint8 image before the evaluation transform."""

        def predict(x: torch.Tensor) -> torch.Tensor:
            return self.ctx.forward_eval(self.network, x)["logits"]

        chunk = max(self.ctx.settings.eval_batch_size, 1)
        votes = perturbed_predictions(predict, images, self.perturbations(), self.ctx.augmenter.generator, chunk)
        return variation_ratio(votes)

    def _row_capacity(self, sample: torch.Tensor) -> int:
        """K: rows that fit the room left for exemplars (raw rows, or the mean encoded row)."""
        room = self.memory.capacity_bytes(self.reserved_bytes())
        codec = self.memory.codec
        if codec.stores_pixels:
            return row_capacity(room, raw_image_bytes(self.ctx.dataset.image_shape))
        rows = codec.encode(sample[: min(256, sample.shape[0])].cpu())
        mean = math.ceil(sum(codec.row_bytes(r) for r in rows) / max(len(rows), 1))
        return row_capacity(room - len(codec.header), max(mean, 1))

    def _trim_to_budget(self) -> None:
        """Encoded rows vary in size: drop random rows until the memory fits its bytes."""
        store = self.memory.store
        room = self.memory.capacity_bytes(self.reserved_bytes())
        while len(store) and store.nbytes() > room:
            victim = torch.randint(len(store), (1,), generator=self.memory.generator)
            store.remove(victim.to(store.device))
