"""GDumb: a greedy class-balanced memory, and a network retrained from scratch on it alone."""

from __future__ import annotations

import torch

from retain.methods.base import Phase, register_method
from retain.methods.exemplar import ExemplarMethod
from retain.scenarios import TaskSpec


@register_method("gdumb")
class GDumb(ExemplarMethod):
    """Fills the memory greedily class-balanced from the stream (no gradient steps on it), then
    re-initialises the network and trains it on the memory only before each evaluation."""

    default_policy = "class_balanced"
    supports_head_norm = True  # model.head_norm: batchnorm is RM's head for this method
    fixed_replay = "concat"  # trains on the memory alone
    replay_modes = ("concat",)

    @classmethod
    def replay_refusal(cls, mode: str) -> str:
        return ("GDumb trains on its memory alone (no stream rows), so there is no stream batch to add a memory "
                "minibatch to; leave memory.replay unset.")

    def before_task(self, task: TaskSpec) -> None:
        self.current_task = task
        self._sample_stream(task)
        # Retrain from scratch: a fresh network (seeded by the torch generator) over all seen classes.
        self.network = self.ctx.build_incremental_net().to(self.ctx.device)
        if self.ctx.settings.channels_last and self.ctx.dataset.image_shape[0] > 1:
            self.network = self.network.to(memory_format=torch.channels_last)
        self.network.grow(self.head_width(task))

    def _sample_stream(self, task: TaskSpec) -> None:
        """Offer the task's samples to the memory in a seeded random stream order."""
        indices = torch.as_tensor(task.train_indices)
        order = indices[torch.randperm(indices.numel(), generator=self.ctx.generator)]
        chunk = self.ctx.settings.train.batch_size
        if self.streaming:
            for part in order.split(chunk):
                self.memory.insert_stream(
                    self.ctx.train_images(part), self.ctx.train_labels(part), task=task.index,
                    reserved_bytes=self.reserved_bytes(),
                )

    def training_phases(self, task: TaskSpec) -> list[Phase]:
        # The stream itself is never used for gradient steps: only memory rows feed the batches.
        return [Phase(stream=torch.empty(0, dtype=torch.long), epochs=self.ctx.epochs_for(task), memory="concat")]

    def after_step(self, batch) -> None:
        """No insertion during training: the memory was filled from the stream in before_task."""

    def after_task(self, task: TaskSpec) -> None:
        if not self.streaming:
            self.rebuild_memory(task)
        self.compute_class_means()
