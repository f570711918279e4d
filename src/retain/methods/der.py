"""DER, Dynamically Expandable Representation (Yan et al., CVPR 2021), without pruning as in PyCIL/MEMO.

Not Dark Experience Replay (DER++), which stores logits in a reservoir buffer.
"""

from __future__ import annotations

from torch import nn

from retain.methods.base import register_method
from retain.methods.expandable import ExpandableMethod
from retain.models.adaptive import AdaptiveNet


@register_method("der")
class DER(ExpandableMethod):
    """DER (expandable representation): a new backbone per task, old ones frozen, aux loss, weight alignment."""

    model_growth = "backbone"

    def build_network(self) -> AdaptiveNet:
        out_dim = self.ctx.build_backbone().out_dim
        return AdaptiveNet(nn.Identity(), self.ctx.build_backbone, out_dim, head_init=self.ctx.settings.head_init)
