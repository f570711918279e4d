"""Correcting the classifier's bias towards new classes: WA's weight alignment and BiC's bias layer."""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import nn

LOGGER = logging.getLogger("retain.methods")


@torch.no_grad()
def weight_align(head: nn.Module, old_classes: int) -> float:
    """Scale the new-class rows of `head.weight` so their mean L2 norm equals the old rows'.

    γ = mean_{old c} ‖W_c‖ / mean_{new c} ‖W_c‖ over full rows; biases are left alone (WA,
    Zhao et al. 2020; used by WA, DER and MEMO). Returns γ (1.0 when there is nothing to align).
    """
    return align_weights(head, old_classes)["gamma"]


@torch.no_grad()
def align_weights(head: nn.Module, old_classes: int) -> dict[str, float]:
    """`weight_align` with what it measured: {"gamma", "old_norm", "new_norm"} (the mean row norms
    before scaling; both 0.0 when there is nothing to align and γ is 1.0)."""
    weight = head.weight
    if old_classes <= 0 or old_classes >= weight.shape[0]:
        return {"gamma": 1.0, "old_norm": 0.0, "new_norm": 0.0}
    norms = weight.float().norm(dim=1)
    old_norm, new_norm = float(norms[:old_classes].mean()), float(norms[old_classes:].mean())
    gamma = float(norms[:old_classes].mean() / norms[old_classes:].mean().clamp_min(1e-12))
    weight[old_classes:] *= gamma
    return {"gamma": gamma, "old_norm": old_norm, "new_norm": new_norm}


def align_and_record(head: nn.Module, old_classes: int, task: int, method: str) -> dict[str, Any]:
    """Weight-align `head` after task `task` (0-based) and return the record results.json keeps:
    {"task" (1-based), "gamma", "old_norm", "new_norm", "enlarged_new"}. γ > 1 means the new
    classes' rows were the *smaller* ones, so alignment enlarges them — the opposite of its
    premise (new classes dominate); that is logged as a warning, shown without -v."""
    record: dict[str, Any] = {"task": task + 1, **align_weights(head, old_classes)}
    record["enlarged_new"] = record["gamma"] > 1.0
    if record["enlarged_new"]:
        LOGGER.warning(
            f"{method} task {task + 1}: weight alignment's gamma = {record['gamma']:.3f} > 1: the new classes' "
            f"weights were smaller than the old ones' (mean row norm {record['new_norm']:.4g} vs "
            f"{record['old_norm']:.4g}), so alignment ENLARGED the new classes, against its premise "
            "(method.align=false turns it off; docs/methods/wa.md)."
        )
    return record


def alignment_results(records: list[dict[str, Any]]) -> dict[str, Any]:
    """What results.json's `method_results` holds about weight alignment: `alignment_gamma` (γ of
    each aligned task, from the second on) and `alignment` (one record per aligned task)."""
    return {"alignment_gamma": [r["gamma"] for r in records], "alignment": [dict(r) for r in records]}


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

    def state_dict(self, *args: Any, **kwargs: Any) -> dict[str, Any]:  # type: ignore[override]
        """The corrections' ranges, values and trainability (`state`): what a checkpoint keeps,
        structure included (a module's own state_dict would hold the values only)."""
        return self.state()

    def load_state_dict(self, state: dict[str, Any], *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        """Replace every correction by those of `state` (from `state_dict`)."""
        self.alphas, self.betas, self.ranges = nn.ParameterList(), nn.ParameterList(), []
        self.load_state(state)

    def load_state(self, state: dict[str, Any]) -> None:
        for (start, end), alpha, beta in zip(state["ranges"], state["alphas"], state["betas"]):
            self.add(start, end)
            with torch.no_grad():
                self.alphas[-1].fill_(alpha)
                self.betas[-1].fill_(beta)
        for alpha, beta, trainable in zip(self.alphas, self.betas, state.get("trainable", [])):
            alpha.requires_grad_(trainable)
            beta.requires_grad_(trainable)
