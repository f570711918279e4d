"""Correcting the classifier's bias towards new classes: WA's weight alignment and BiC's bias layer."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


@torch.no_grad()
def weight_align(head: nn.Module, old_classes: int) -> float:
    """Scale the new-class rows of `head.weight` so their mean L2 norm equals the old rows'.

    γ = mean_{old c} ‖W_c‖ / mean_{new c} ‖W_c‖ over full rows; biases are left alone (WA,
    Zhao et al. 2020; used by WA, DER and MEMO). Returns γ (1.0 when there is nothing to align).
    """
    weight = head.weight
    if old_classes <= 0 or old_classes >= weight.shape[0]:
        return 1.0
    norms = weight.float().norm(dim=1)
    gamma = float(norms[:old_classes].mean() / norms[old_classes:].mean().clamp_min(1e-12))
    weight[old_classes:] *= gamma
    return gamma


class BiasCorrection(nn.Module):
    """BiC's bias layers: for each corrected task, logits[:, start:end] ← α·logits + β.

    One (α, β) pair per task from the second on; every earlier pair stays frozen and is still
    applied, and only the newest pair is trained (BiC stage 2). Logits outside the ranges are
    returned unchanged.
    """

    def __init__(self) -> None:
        super().__init__()
        self.alphas = nn.ParameterList()
        self.betas = nn.ParameterList()
        self.ranges: list[tuple[int, int]] = []

    def add(self, start: int, end: int) -> None:
        """A new identity correction (α = 1, β = 0) for classes start..end-1; older ones freeze."""
        device = self.alphas[0].device if len(self.alphas) else torch.device("cpu")
        for parameter in self.parameters():
            parameter.requires_grad_(False)
        self.alphas.append(nn.Parameter(torch.ones(1, device=device)))
        self.betas.append(nn.Parameter(torch.zeros(1, device=device)))
        self.ranges.append((int(start), int(end)))

    def newest_parameters(self) -> list[nn.Parameter]:
        return [self.alphas[-1], self.betas[-1]] if self.ranges else []

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        if not self.ranges:
            return logits
        parts, cursor = [], 0
        for (start, end), alpha, beta in zip(self.ranges, self.alphas, self.betas):
            if start >= logits.shape[1]:
                break
            parts.append(logits[:, cursor:start])
            parts.append(alpha * logits[:, start:end] + beta)
            cursor = end
        parts.append(logits[:, cursor:])
        return torch.cat(parts, dim=1)

    def state(self) -> dict[str, Any]:
        return {
            "ranges": [list(r) for r in self.ranges],
            "alphas": [float(a.detach()) for a in self.alphas],
            "betas": [float(b.detach()) for b in self.betas],
            "trainable": [bool(a.requires_grad) for a in self.alphas],  # the newest is frozen once fitted
        }

    def load_state(self, state: dict[str, Any]) -> None:
        for (start, end), alpha, beta in zip(state["ranges"], state["alphas"], state["betas"]):
            self.add(start, end)
            with torch.no_grad():
                self.alphas[-1].fill_(alpha)
                self.betas[-1].fill_(beta)
        for alpha, beta, trainable in zip(self.alphas, self.betas, state.get("trainable", [])):
            alpha.requires_grad_(trainable)
            beta.requires_grad_(trainable)
