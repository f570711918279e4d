"""Rainbow Memory (Bang et al., CVPR 2021): uncertainty-stratified memory, half/half replay batches.

The memory update (RM's "uncertainty" policy, `memory.policy: rainbow`) ranks each class's
candidates (this task's stream ∪ the memory) by the variation ratio of the model's predictions
over 12 perturbations and keeps k = ⌊K/|C|⌋ at equal strides over that ranking
(retain.memory.policies.rainbow). Each step trains on batch − batch//2 stream rows plus
batch//2 memory rows; the online memory-only epochs use batches of batch//2 (spec §3.3).
The diversity-enhancing augmentation is configuration: `augment.cutmix: true` and
`augment.autoaugment: cifar10` (the rm-* presets turn both on).
"""

from __future__ import annotations

import torch

from retain.methods.base import Phase, register_method
from retain.methods.er_mixed import ERMixed


@register_method("rainbow")
class RainbowMemory(ERMixed):
    """RM: the RM stream protocol with half-stream/half-memory batches and the rainbow policy."""

    default_policy = "rainbow"
    fixed_replay = "batch"  # half stream, half memory rows at every step
    replay_modes = ("batch",)
    takes_memory_batch_size = False  # the memory half is train.batch_size // 2

    def stream_phase(self, stream: torch.Tensor, epochs: int, name: str) -> Phase:
        batch = self.ctx.settings.train.batch_size
        if len(self.memory.store) == 0:  # nothing to replay yet: whole batches of stream rows
            return Phase(stream=stream, epochs=epochs, memory="none", batch_size=batch, name=name)
        return Phase(
            stream=stream, epochs=epochs, memory="batch", batch_size=batch - batch // 2,
            memory_batch_size=batch // 2, name=name,
        )

    def memory_only_batch_size(self) -> int:
        return max(self.ctx.settings.train.batch_size // 2, 1)  # 8 on CIFAR with batch 16 (easy to miss)
