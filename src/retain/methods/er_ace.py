"""ER-ACE: experience replay with asymmetric cross-entropy (Caccia et al., ICLR 2022; spec §6)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from retain.methods.base import Batch, register_method
from retain.methods.streaming import StreamingReplay


def ace_mask(present: torch.Tensor, seen: torch.Tensor, width: int, total_classes: int) -> torch.Tensor:
    """Columns (of `width` logits) the stream CE may use; `present`, `seen`: bool per class.

    The classes in the current batch, plus every class from the highest seen so far upward
    unless that is the run's last class (the reference's `seen.max() < num_classes - 1`).
    """
    columns = torch.arange(width, device=present.device)
    highest = torch.where(seen[:width], columns, torch.zeros_like(columns)).max()
    # No host sync: the "not the last class" test stays a tensor.
    return present[:width] | ((columns >= highest) & (highest < total_classes - 1))


@register_method("er_ace")
class ERACE(StreamingReplay):
    """ER-ACE: from the second task on, the stream CE masks logits of classes neither in the
    batch nor beyond the highest seen class; the buffer minibatch uses plain CE."""

    distributed_refusal = (
        "its loss masks the classes present in the batch's stream rows and keeps the classes seen so far from"
        " them, and a rank sees only its shard's classes."
    )

    supports_cutmix = False  # label-dependent terms (see Method.supports_cutmix)
    persist = ("seen_classes",)
    free_state = {"seen_classes": "one flag per class (seen so far or not), the bookkeeping of ACE's mask"}

    def __init__(self, ctx, params) -> None:
        super().__init__(ctx, params)
        self.seen_classes = torch.zeros(ctx.plan.num_classes, dtype=torch.bool, device=ctx.device)

    def training_loss(self, batch: Batch) -> torch.Tensor:
        labels = batch.stream_part(batch.labels)
        logits = self.network(batch.stream_part(batch.images))["logits"]
        self.track(batch, logits)
        self.seen_classes[labels] = True
        if self.current_task.index == 0:
            if labels.numel() == 0:  # the online memory epochs: the buffer rows with plain CE
                return F.cross_entropy(self.network(batch.images)["logits"], batch.labels)
            return F.cross_entropy(logits, labels)
        present = torch.zeros_like(self.seen_classes)
        present[labels] = True
        allowed = ace_mask(present, self.seen_classes, logits.shape[1], self.ctx.plan.num_classes)
        masked = logits.masked_fill(~allowed, torch.finfo(logits.dtype).min)
        # The online protocol's memory epochs bring no stream rows: only the buffer CE remains.
        loss = F.cross_entropy(masked, labels) if labels.numel() else masked.sum()
        replay_images = batch.memory_part(batch.images)
        if replay_images.shape[0]:
            replay = self.network(replay_images)["logits"]
            loss = loss + F.cross_entropy(replay, batch.memory_part(batch.labels))
        return loss
