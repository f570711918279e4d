"""Cutout: paint one square per sample, centred anywhere in the image and clipped at the borders."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from retain.augment.geometric import fill_tensor
from retain.augment.sampling import randint


def cutout_mask(
    images: torch.Tensor, size: int | torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """Boolean (N, 1, H, W) masks of one size×size square per sample (a scalar or (N,) sizes).

    The centre is uniform over all pixels (DeVries & Taylor; RM's and PyCIL's Cutout), so
    squares near a border are clipped. The square spans [c − size//2, c − size//2 + size).
    """
    n, _, h, w = images.shape
    device = images.device
    sizes = torch.as_tensor(size, dtype=torch.long, device=device).expand(n)
    top = randint(0, h, n, generator, device) - sizes // 2
    left = randint(0, w, n, generator, device) - sizes // 2
    rows = torch.arange(h, device=device)
    cols = torch.arange(w, device=device)
    in_rows = (rows >= top[:, None]) & (rows < (top + sizes)[:, None])
    in_cols = (cols >= left[:, None]) & (cols < (left + sizes)[:, None])
    return (in_rows[:, :, None] & in_cols[:, None, :]).unsqueeze(1)


def cutout(
    images: torch.Tensor,
    size: int | torch.Tensor,
    generator: torch.Generator,
    fill: float | Sequence[float] = 0,
) -> torch.Tensor:
    """Set one random size×size square per sample to `fill` (black by default)."""
    if images.shape[0] == 0:
        return images
    mask = cutout_mask(images, size, generator)
    colour = fill_tensor(fill, images.shape[1], images.device).to(images.dtype)
    return torch.where(mask, colour, images)
