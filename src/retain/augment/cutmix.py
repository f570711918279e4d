"""CutMix on the loss side, as GDumb and RM do it: one box for the whole batch.

With probability p: λ ~ Beta(α, α), partners = a random permutation of the batch, one box of
side ⌊size·√(1−λ)⌋ centred uniformly (half-extents ⌊side/2⌋, clipped), pasted from the
partners; λ is then recomputed as 1 − box area / (H·W). Every draw comes from the generator:
for α = 1, Beta(1, 1) is Uniform(0, 1) and λ is that uniform draw; for other α (torch cannot
sample Beta from a generator) a numpy RandomState seeded from that draw samples Beta(α, α).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


@dataclass
class CutMixResult:
    """The mixed batch, both label sets and the mixing weight of `labels_a`."""

    images: torch.Tensor
    labels_a: torch.Tensor
    labels_b: torch.Tensor
    lam: float
    applied: bool


def cutmix(
    images: torch.Tensor, labels: torch.Tensor, generator: torch.Generator, alpha: float = 1.0, p: float = 0.5
) -> CutMixResult:
    """CutMix the batch with probability p (the input is never modified)."""
    if alpha <= 0:
        raise ValueError(f"cutmix alpha must be > 0, got {alpha}")
    # One small draw read back once: the box must be known on the host to slice it.
    coin, lam_draw, centre_y, centre_x = torch.rand(4, generator=generator, device=generator.device).tolist()
    if coin >= p or images.shape[0] == 0:
        return CutMixResult(images, labels, labels, 1.0, False)
    if alpha == 1.0:
        lam = lam_draw
    else:
        lam = float(np.random.RandomState(int(lam_draw * 2**32) % 2**32).beta(alpha, alpha))
    perm = torch.randperm(images.shape[0], generator=generator, device=generator.device).to(images.device)
    _, _, h, w = images.shape
    ratio = math.sqrt(1.0 - lam)
    half_h, half_w = int(h * ratio) // 2, int(w * ratio) // 2
    cy, cx = int(centre_y * h), int(centre_x * w)
    y1, y2 = max(cy - half_h, 0), min(cy + half_h, h)
    x1, x2 = max(cx - half_w, 0), min(cx + half_w, w)
    mixed = images.clone()
    mixed[:, :, y1:y2, x1:x2] = images[perm, :, y1:y2, x1:x2]
    lam = 1.0 - (y2 - y1) * (x2 - x1) / (h * w)
    return CutMixResult(mixed, labels, labels[perm.to(labels.device)], lam, True)


def mixed_cross_entropy(logits: torch.Tensor, result: CutMixResult, reduction: str = "mean") -> torch.Tensor:
    """λ·CE(logits, labels_a) + (1 − λ)·CE(logits, labels_b); plain CE when nothing was mixed."""
    loss_a = F.cross_entropy(logits, result.labels_a, reduction=reduction)
    if not result.applied:
        return loss_a
    loss_b = F.cross_entropy(logits, result.labels_b, reduction=reduction)
    return result.lam * loss_a + (1.0 - result.lam) * loss_b
