"""MAER: memorization-aware experience replay (Kozal et al., arXiv 2505.17664; spec §5)."""

from __future__ import annotations

import torch
from pydantic import Field

from retain.methods.base import Batch, Setting, classification_loss, register_method
from retain.methods.memorization_proxy import MemorizationParams
from retain.methods.streaming import StreamingReplay


@register_method("maer")
class MAER(StreamingReplay):
    """ER with a balanced reservoir whose current-task slots are rewritten at task end with the
    lowest / middle / highest memorization-proxy samples per class (`method.maer_policy`)."""

    default_policy = "maer"

    def training_loss(self, batch: Batch) -> torch.Tensor:
        # One forward over stream ∪ buffer minibatch, CE over all classes, no masking (§5.3).
        logits = self.network(batch.images)["logits"]
        self.track(batch, batch.stream_part(logits))
        return classification_loss(logits, batch)


class MAERHighParams(MemorizationParams):
    """maer_high keeps 10% of the buffer for the highest-proxy samples by default."""

    longtail_fraction: float = Field(0.1, gt=0, lt=1)


@register_method("maer_high")
class MAERHigh(MAER):
    """MAER plus a long-tail area (`method.longtail_fraction` of the buffer) of each class's
    highest-proxy samples ("high bottom-k" / "high middle-k" rows)."""

    Params = MAERHighParams

    @classmethod
    def refusal(cls, setting: Setting) -> str | None:
        if setting.codec == "jpeg":
            return ("maer_high's long-tail area (method.longtail_fraction > 0) rewrites buffer rows in place, "
                    "which needs memory.codec=raw; use method.name=maer for a JPEG memory.")
        return super().refusal(setting)
