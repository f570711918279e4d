"""Shared fixtures for the memory tests: smooth, natural-ish synthetic images."""

from __future__ import annotations

import pytest
import torch


def make_smooth_images(n: int, channels: int, height: int, width: int, seed: int = 0) -> torch.Tensor:
    """Random gradients plus mild noise: compressible like photos, unlike pure noise."""
    g = torch.Generator().manual_seed(seed)
    ys = torch.linspace(0, 1, height).view(1, 1, height, 1)
    xs = torch.linspace(0, 1, width).view(1, 1, 1, width)
    a, b, c = (torch.rand((n, channels, 1, 1), generator=g) for _ in range(3))
    base = 255 * (0.2 + 0.3 * a * ys + 0.3 * b * xs + 0.2 * c * torch.sin(6 * (xs + ys)))
    noise = 6 * torch.randn((n, 1, height, width), generator=g)  # luma-like noise, as in photos
    return (base + noise).clamp(0, 255).round().to(torch.uint8)


@pytest.fixture
def smooth_images():
    return make_smooth_images
