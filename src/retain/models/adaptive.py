"""A network that grows one branch per task: MEMO's AdaptiveNet and DER's expandable representation."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from retain.models.heads import IncrementalLinear


class AdaptiveNet(nn.Module):
    """A shared `trunk`, one branch per task, a head over all branches' features and an auxiliary head.

    MEMO: trunk = the generalized blocks, branch = a specialized block. DER: trunk = identity,
    branch = a whole backbone. `expand` appends a branch copied from the previous one, freezes
    the old branches (their BatchNorm stays in eval mode even when the net trains), builds the
    head of the next size with the old weights copied in, and a fresh auxiliary head over the
    newest branch with |C_t| + 1 outputs (old classes as one, spec §2.3).
    """

    def __init__(self, trunk: nn.Module, make_branch: Callable[[], nn.Module], branch_dim: int,
                 head_init: str = "pycil_linear") -> None:
        super().__init__()
        self.head_init = head_init  # new head columns and auxiliary heads (models.heads.HEAD_INITS)
        self.trunk = trunk
        self.make_branch = make_branch
        self.branch_dim = branch_dim
        self.branches = nn.ModuleList()
        self.head = IncrementalLinear(0, 0, init=head_init)
        self.aux_head: IncrementalLinear | None = None
        self.trunk_frozen = False

    @property
    def feature_dim(self) -> int:
        return self.branch_dim * len(self.branches)

    @property
    def num_classes(self) -> int:
        return self.head.num_classes

    # ------------------------------------------------------------------ growth
    def expand(self, num_classes: int) -> None:
        """Start a new task whose head covers `num_classes` classes in all."""
        old_classes = self.head.num_classes
        if num_classes <= old_classes:
            raise ValueError(f"a new task must add classes: head has {old_classes}, asked for {num_classes}")
        device = next(iter(self.parameters()), torch.empty(0)).device
        branch = self.make_branch().to(device)
        if len(self.branches):
            branch.load_state_dict(self.branches[-1].state_dict())
            for old in self.branches:
                freeze(old)
        self.branches.append(branch)
        head = IncrementalLinear(self.feature_dim, num_classes, init=self.head_init).to(device)
        with torch.no_grad():
            head.weight[:old_classes, : self.head.in_features] = self.head.weight
            head.bias[:old_classes] = self.head.bias
        self.head = head
        self.aux_head = IncrementalLinear(self.branch_dim, num_classes - old_classes + 1, init=self.head_init).to(device)

    def freeze_trunk(self) -> None:
        """Freeze the shared trunk and keep its BatchNorm in eval mode (MEMO with train_base=False)."""
        freeze(self.trunk)
        self.trunk_frozen = True

    def train(self, mode: bool = True) -> "AdaptiveNet":
        super().train(mode)
        # Frozen parts keep their BatchNorm statistics: they never run in training mode.
        for branch in self.branches[:-1]:
            branch.eval()
        if self.trunk_frozen:
            self.trunk.eval()
        return self

    # ------------------------------------------------------------------ forward
    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        shared = self.trunk(x)
        parts = [branch(shared) for branch in self.branches]
        features = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
        out = {"logits": self.head(features), "features": features}
        if self.aux_head is not None:
            out["aux_logits"] = self.aux_head(parts[-1])
        return out


def freeze(module: nn.Module) -> None:
    """No gradients and BatchNorm in eval mode."""
    for parameter in module.parameters():
        parameter.requires_grad_(False)
    module.eval()


def auxiliary_targets(labels: torch.Tensor, old_classes: int) -> torch.Tensor:
    """Targets of the auxiliary head: every old class becomes 0, new class old_classes + k becomes k + 1."""
    return torch.where(labels >= old_classes, labels - old_classes + 1, torch.zeros_like(labels))
