"""A backbone plus a growing linear head: the network of most single-backbone methods."""

from __future__ import annotations

import torch
from torch import nn

from retain.models.heads import IncrementalLinear


class IncrementalNet(nn.Module):
    """`backbone` (any module with `.out_dim`) followed by an IncrementalLinear head.

    `forward` returns logits and features from the same pass, so CNN and NME evaluation
    need one forward only.
    """

    def __init__(self, backbone: nn.Module, num_classes: int = 0, head: nn.Module | None = None,
                 head_init: str = "pycil_linear") -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head if head is not None else IncrementalLinear(backbone.out_dim, num_classes, init=head_init)

    @property
    def feature_dim(self) -> int:
        return self.head.in_features

    @property
    def num_classes(self) -> int:
        return self.head.num_classes

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.backbone(x)
        return {"logits": self.head(features), "features": features}

    def grow(self, n_new: int) -> None:
        """Add `n_new` classes to the head, keeping the old rows."""
        self.head.grow(n_new)
