"""Random draws on the generator's own device, moved to the images' device.

Every augmentation draws through these helpers so that one seeded `torch.Generator` (CPU or
CUDA) drives the whole pipeline and the same seed gives the same draws.
"""

from __future__ import annotations

import torch


def uniform(
    shape: tuple[int, ...] | int,
    generator: torch.Generator,
    device: torch.device,
    low: float = 0.0,
    high: float = 1.0,
) -> torch.Tensor:
    """Uniform floats in [low, high)."""
    draws = torch.rand(shape, generator=generator, device=generator.device)
    return (low + (high - low) * draws).to(device)


def randint(
    low: int, high: int, shape: tuple[int, ...] | int, generator: torch.Generator, device: torch.device
) -> torch.Tensor:
    """Uniform int64 values in [low, high)."""
    if isinstance(shape, int):
        shape = (shape,)
    draws = torch.randint(low, high, shape, generator=generator, device=generator.device)
    return draws.to(device)


def coin(n: int, p: float, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """n independent Bernoulli(p) booleans."""
    return uniform(n, generator, device) < p


def random_sign(n: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """n values of -1.0 or +1.0 with equal probability."""
    return torch.where(coin(n, 0.5, generator, device), -1.0, 1.0)
