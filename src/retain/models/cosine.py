"""LUCIR's cosine classifier: σ·cos(feature, class weight), split into frozen old and trainable new rows."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from retain.models.network import IncrementalNet


class SplitCosineHead(nn.Module):
    """Cosine classifier whose rows are split into `old_weight` (frozen) and `new_weight` (trained).

    logit_c = σ · ⟨φ/‖φ‖, w_c/‖w_c‖⟩ with one learnable scalar σ (initialised to 1) shared by
    both parts (LUCIR's SplitCosineLinear). `grow(n)` merges the current rows into the frozen
    old part and appends `n` fresh trainable rows, so at task t only task t's classes learn.
    """

    # Marks parameters that `count_parameters(..., exclude_head=True)` leaves out.
    is_head = True

    def __init__(self, in_features: int, num_classes: int = 0) -> None:
        super().__init__()
        self.in_features = in_features
        self.old_weight = nn.Parameter(torch.empty(0, in_features), requires_grad=False)
        self.new_weight = nn.Parameter(self._fresh(num_classes, torch.empty(0)))
        self.sigma = nn.Parameter(torch.ones(()))

    @property
    def num_old(self) -> int:
        return self.old_weight.shape[0]

    @property
    def num_classes(self) -> int:
        return self.old_weight.shape[0] + self.new_weight.shape[0]

    @property
    def weight(self) -> torch.Tensor:
        """All class rows, old first."""
        return torch.cat([self.old_weight, self.new_weight])

    def _fresh(self, rows: int, like: torch.Tensor) -> torch.Tensor:
        # LUCIR's CosineLinear init: U(−1/√d, 1/√d).
        bound = 1.0 / math.sqrt(self.in_features)
        return torch.empty(rows, self.in_features, dtype=like.dtype, device=like.device).uniform_(-bound, bound)

    def grow(self, n_new: int) -> None:
        """Freeze every current row as old and append `n_new` trainable rows."""
        if n_new < 0:
            raise ValueError(f"n_new must be >= 0, got {n_new}")
        merged = torch.cat([self.old_weight.detach(), self.new_weight.detach()])
        self.old_weight = nn.Parameter(merged, requires_grad=False)
        self.new_weight = nn.Parameter(self._fresh(n_new, merged))

    def imprint(self, weights: torch.Tensor) -> None:
        """Set the new rows (e.g. to imprinted class embeddings); shape (new classes, in_features)."""
        if weights.shape != self.new_weight.shape:
            raise ValueError(f"imprinted weights have shape {tuple(weights.shape)}, expected {tuple(self.new_weight.shape)}")
        with torch.no_grad():
            self.new_weight.copy_(weights)

    def cosine(self, features: torch.Tensor) -> torch.Tensor:
        """Unscaled cosine scores in [−1, 1] (what LUCIR's margin ranking loss uses)."""
        return F.linear(F.normalize(features, dim=1), F.normalize(self.weight, dim=1))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.sigma * self.cosine(features)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # The number of rows grows during a run: take the shapes of the checkpoint.
        for name in ("old_weight", "new_weight"):
            saved = state_dict.get(prefix + name)
            current = getattr(self, name)
            if saved is not None and saved.shape != current.shape:
                setattr(self, name, nn.Parameter(torch.empty_like(saved, device=current.device), requires_grad=current.requires_grad))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, old={self.num_old}, new={self.new_weight.shape[0]}"


class CosineNet(IncrementalNet):
    """`backbone` followed by a SplitCosineHead.

    `forward` returns the σ-scaled logits, the unscaled cosine scores and the features of one pass.
    """

    def __init__(self, backbone: nn.Module, num_classes: int = 0) -> None:
        super().__init__(backbone, num_classes, head=SplitCosineHead(backbone.out_dim, num_classes))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.backbone(x)
        cosine = self.head.cosine(features)
        return {"logits": self.head.sigma * cosine, "cosine": cosine, "features": features}
