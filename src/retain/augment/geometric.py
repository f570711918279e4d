"""Geometric operations on uint8 N×C×H×W batches: crop, flips, and per-sample affine warps.

Affine warps follow PIL's convention (RM's policies are written against PIL): a matrix maps
an output pixel centre (x + 0.5, y + 0.5) to a continuous input position, pixels outside the
image take a fill colour, and positive rotation angles turn the content counter-clockwise.
All samples are warped in one batched call, each with its own matrix.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from retain.augment.sampling import coin, randint, uniform


def fill_tensor(fill: float | Sequence[float], channels: int, device: torch.device) -> torch.Tensor:
    """A fill colour as a float (1, C, 1, 1) tensor; a scalar fills every channel."""
    values = torch.as_tensor(fill, dtype=torch.float32, device=device).flatten()
    if values.numel() == 1:
        values = values.expand(channels)
    elif values.numel() < channels:
        raise ValueError(f"fill has {values.numel()} values but the images have {channels} channels")
    return values[:channels].reshape(1, channels, 1, 1)


def warp_affine(
    images: torch.Tensor,
    matrices: torch.Tensor,
    fill: float | Sequence[float] = 0.0,
    mode: str = "nearest",
) -> torch.Tensor:
    """Warp each image by its (2, 3) output→input matrix in pixel units.

    "nearest" reads the input pixel containing the sampled position (PIL's rule, exact);
    "bilinear"/"bicubic" use grid_sample's kernels (close to, not bit-equal with, PIL's).
    """
    n, c, h, w = images.shape
    device = images.device
    ys = torch.arange(h, device=device, dtype=torch.float32) + 0.5
    xs = torch.arange(w, device=device, dtype=torch.float32) + 0.5
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    base = torch.stack([grid_x, grid_y, torch.ones_like(grid_x)], dim=-1)
    coords = torch.einsum("nij,hwj->nhwi", matrices.to(device, torch.float32), base)
    colour = fill_tensor(fill, c, device)
    if mode == "nearest":
        col = coords[..., 0].floor().long()
        row = coords[..., 1].floor().long()
        inside = ((col >= 0) & (col < w) & (row >= 0) & (row < h)).view(n, 1, h, w)
        flat = (row.clamp(0, h - 1) * w + col.clamp(0, w - 1)).view(n, 1, h * w).expand(n, c, h * w)
        picked = images.reshape(n, c, h * w).gather(2, flat).view(n, c, h, w)
        return torch.where(inside, picked, colour.round().to(torch.uint8))
    grid = coords / torch.tensor([w, h], device=device, dtype=torch.float32) * 2.0 - 1.0
    # Shifting by the fill colour makes grid_sample's zero padding come out as the fill.
    warped = F.grid_sample(images.float() - colour, grid, mode=mode, padding_mode="zeros", align_corners=False)
    return (warped + colour).round_().clamp_(0, 255).to(torch.uint8)


def identity_matrices(n: int, device: torch.device) -> torch.Tensor:
    """(N, 2, 3) identity affine matrices."""
    return torch.eye(2, 3, device=device).repeat(n, 1, 1)


def rotation_matrices(degrees: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Output→input matrices rotating each image by its angle about the image centre."""
    radians = degrees.float() * (math.pi / 180.0)
    cos, sin = torch.cos(radians), torch.sin(radians)
    cx, cy = width / 2.0, height / 2.0
    matrices = torch.zeros(degrees.shape[0], 2, 3, device=degrees.device)
    matrices[:, 0, 0], matrices[:, 0, 1] = cos, -sin
    matrices[:, 1, 0], matrices[:, 1, 1] = sin, cos
    matrices[:, 0, 2] = cx - cos * cx + sin * cy
    matrices[:, 1, 2] = cy - sin * cx - cos * cy
    return matrices


def rotate(
    images: torch.Tensor, degrees: float | torch.Tensor, fill: float | Sequence[float] = 0.0, mode: str = "nearest"
) -> torch.Tensor:
    """Rotate counter-clockwise by `degrees` (a scalar or one angle per sample), same size."""
    angles = torch.as_tensor(degrees, dtype=torch.float32, device=images.device).expand(images.shape[0])
    return warp_affine(images, rotation_matrices(angles, images.shape[2], images.shape[3]), fill, mode)


def random_rotation(
    images: torch.Tensor, max_degrees: float, generator: torch.Generator, fill: float | Sequence[float] = 0.0
) -> torch.Tensor:
    """torchvision RandomRotation(max_degrees): angle ~ U[−d, d] per sample, nearest, fill 0."""
    angles = uniform(images.shape[0], generator, images.device, -max_degrees, max_degrees)
    return rotate(images, angles, fill)


def random_crop(images: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Zero-pad by `padding` pixels and crop back to H×W at a random offset per sample."""
    if padding <= 0:
        return images
    n, c, h, w = images.shape
    if n == 0:
        return images.clone()
    padded = F.pad(images, (padding, padding, padding, padding))
    offset_y = randint(0, 2 * padding + 1, n, generator, images.device)
    offset_x = randint(0, 2 * padding + 1, n, generator, images.device)
    # Every C×H×W window of the padded batch, keyed by the flat position of its first pixel,
    # is a strided view (no copy); one index_select of each sample's window start is ~2x
    # (1 channel) to ~4x (3 channels) faster on CPU than indexing a per-sample window view.
    side_h, side_w = h + 2 * padding, w + 2 * padding
    plane = side_h * side_w
    starts = torch.arange(n, device=images.device) * (c * plane) + offset_y * side_w + offset_x
    span = (c - 1) * plane + (h - 1) * side_w + w
    windows = padded.as_strided((padded.numel() - span + 1, c, h, w), (1, plane, side_w, 1))
    return windows.index_select(0, starts)


def _random_flip(images: torch.Tensor, dim: int, generator: torch.Generator, p: float) -> torch.Tensor:
    chosen = coin(images.shape[0], p, generator, images.device)
    # One row gather from [originals; flipped] is ~2.5x faster than a per-pixel torch.where
    # on CPU, and needs no host sync (unlike selecting the chosen rows by nonzero()).
    n = images.shape[0]
    both = torch.cat([images, images.flip(dim)])
    rows = torch.arange(n, device=images.device) + n * chosen.long()
    return both.index_select(0, rows)


def horizontal_flip(images: torch.Tensor, generator: torch.Generator, p: float = 0.5) -> torch.Tensor:
    """Mirror left↔right each sample with probability p."""
    return _random_flip(images, -1, generator, p)


def vertical_flip(images: torch.Tensor, generator: torch.Generator, p: float = 0.5) -> torch.Tensor:
    """Mirror top↔bottom each sample with probability p."""
    return _random_flip(images, -2, generator, p)
