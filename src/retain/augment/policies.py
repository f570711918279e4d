"""RandAugment ("randaugment" 1.0.2, as used by RM) and the AutoAugment CIFAR-10 policy.

Both policies reduce to stages in which every sample has its own (operation, magnitude
level, apply?) triple. A stage groups the samples by operation and makes one batched call
per operation in use, with per-sample magnitudes: O(#ops) Python iterations, never O(N).

Operations and magnitude levels 0..9, as in RM's `utils/augment.py` / randaugment 1.0.2
(DeepVoltaire's AutoAugment port, built on PIL):

* ShearX/ShearY: shear 0..0.3, random sign, about the top-left corner, bicubic, fill 128.
* TranslateX/TranslateY: 0..150/331 of the width/height, random sign, nearest, fill 128.
* Rotate: 0..30 degrees counter-clockwise (no random sign in that code), nearest, fill 128.
* Color, Contrast, Sharpness, Brightness: enhance factor 1 ± 0..0.9 (random sign).
* Posterize: keep round(linspace(8, 4)) bits. Solarize: threshold linspace(256, 0).
* Cutout: side round(linspace(0, 20)) rounded down to even (RM paints size//2 on each side
  of the centre), RM's fill colour (125, 122, 113).
* AutoContrast, Equalize, Invert: no magnitude.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import torch

from retain.augment import color
from retain.augment.cutout import cutout
from retain.augment.geometric import identity_matrices, rotate, warp_affine
from retain.augment.sampling import coin, randint, random_sign, uniform

# The order of randaugment 1.0.2's `get_trans_list`.
OPERATIONS = (
    "Invert", "Cutout", "Sharpness", "AutoContrast", "Posterize",
    "ShearX", "TranslateX", "TranslateY", "ShearY", "Rotate",
    "Equalize", "Contrast", "Color", "Solarize", "Brightness",
)  # fmt: skip
OP = {name: index for index, name in enumerate(OPERATIONS)}

POLICY_FILL = 128.0                 # fill colour of the affine operations
RM_CUTOUT_FILL = (125, 122, 113)    # RM's Cutout paints this (CIFAR mean) colour


def rm_cutout_fill(channels: int) -> tuple[int, ...]:
    """RM's Cutout colour for `channels` channels (its first value for grey images)."""
    return RM_CUTOUT_FILL if channels == 3 else (RM_CUTOUT_FILL[0],) * channels


_SIGNED = ("ShearX", "ShearY", "TranslateX", "TranslateY", "Color", "Contrast", "Sharpness", "Brightness")


def _magnitude_table() -> torch.Tensor:
    """(15, 10) magnitude of every operation at levels 0..9."""
    table = torch.zeros(len(OPERATIONS), 10, dtype=torch.float64)
    spans = {
        "ShearX": (0.0, 0.3), "ShearY": (0.0, 0.3),
        "TranslateX": (0.0, 150 / 331), "TranslateY": (0.0, 150 / 331),
        "Rotate": (0.0, 30.0), "Solarize": (256.0, 0.0),
        "Color": (0.0, 0.9), "Contrast": (0.0, 0.9), "Sharpness": (0.0, 0.9), "Brightness": (0.0, 0.9),
    }  # fmt: skip
    for name, (low, high) in spans.items():
        table[OP[name]] = torch.linspace(low, high, 10, dtype=torch.float64)
    table[OP["Posterize"]] = torch.linspace(8, 4, 10, dtype=torch.float64).round()
    table[OP["Cutout"]] = torch.linspace(0, 20, 10, dtype=torch.float64).round()
    return table.float()


MAGNITUDES = _magnitude_table()
SIGNED = torch.tensor([name in _SIGNED for name in OPERATIONS])

# (p1, op1, level1, p2, op2, level2): the 25 sub-policies of RM's CIFAR10Policy.
CIFAR10_POLICY = (
    (0.1, "Invert", 7, 0.2, "Contrast", 6), (0.7, "Rotate", 2, 0.3, "TranslateX", 9),
    (0.8, "Sharpness", 1, 0.9, "Sharpness", 3), (0.5, "ShearY", 8, 0.7, "TranslateY", 9),
    (0.5, "AutoContrast", 8, 0.9, "Equalize", 2), (0.2, "ShearY", 7, 0.3, "Posterize", 7),
    (0.4, "Color", 3, 0.6, "Brightness", 7), (0.3, "Sharpness", 9, 0.7, "Brightness", 9),
    (0.6, "Equalize", 5, 0.5, "Equalize", 1), (0.6, "Contrast", 7, 0.6, "Sharpness", 5),
    (0.7, "Color", 7, 0.5, "TranslateX", 8), (0.3, "Equalize", 7, 0.4, "AutoContrast", 8),
    (0.4, "TranslateY", 3, 0.2, "Sharpness", 6), (0.9, "Brightness", 6, 0.2, "Color", 8),
    (0.5, "Solarize", 2, 0.0, "Invert", 3), (0.2, "Equalize", 0, 0.6, "AutoContrast", 0),
    (0.2, "Equalize", 8, 0.6, "Equalize", 4), (0.9, "Color", 9, 0.6, "Equalize", 6),
    (0.8, "AutoContrast", 4, 0.2, "Solarize", 8), (0.1, "Brightness", 3, 0.7, "Color", 0),
    (0.4, "Solarize", 5, 0.9, "AutoContrast", 3), (0.9, "TranslateY", 9, 0.7, "TranslateY", 9),
    (0.9, "AutoContrast", 2, 0.8, "Solarize", 3), (0.8, "Equalize", 8, 0.1, "Invert", 3),
    (0.7, "TranslateY", 9, 0.9, "AutoContrast", 1),
)  # fmt: skip

def _affine(images: torch.Tensor, row: int, col: int, values: torch.Tensor, mode: str) -> torch.Tensor:
    """Warp with identity matrices whose entry (row, col) holds each sample's value."""
    matrices = identity_matrices(images.shape[0], images.device)
    matrices[:, row, col] = values
    return warp_affine(images, matrices, POLICY_FILL, mode)


_Operation = Callable[[torch.Tensor, torch.Tensor, torch.Generator], torch.Tensor]
_OPERATIONS: dict[str, _Operation] = {
    "Invert": lambda x, m, g: color.invert(x),
    # RM's Cutout spans size//2 on each side of its centre: an even side.
    "Cutout": lambda x, m, g: cutout(x, m.long() // 2 * 2, g, fill=rm_cutout_fill(x.shape[1])),
    "Sharpness": lambda x, m, g: color.adjust_sharpness(x, 1.0 + m),
    "AutoContrast": lambda x, m, g: color.autocontrast(x),
    "Posterize": lambda x, m, g: color.posterize(x, m.long()),
    "ShearX": lambda x, m, g: _affine(x, 0, 1, m, "bicubic"),
    "TranslateX": lambda x, m, g: _affine(x, 0, 2, m * x.shape[3], "nearest"),
    "TranslateY": lambda x, m, g: _affine(x, 1, 2, m * x.shape[2], "nearest"),
    "ShearY": lambda x, m, g: _affine(x, 1, 0, m, "bicubic"),
    "Rotate": lambda x, m, g: rotate(x, m, POLICY_FILL),
    "Equalize": lambda x, m, g: color.equalize(x),
    "Contrast": lambda x, m, g: color.adjust_contrast(x, 1.0 + m),
    "Color": lambda x, m, g: color.adjust_saturation(x, 1.0 + m),
    "Solarize": lambda x, m, g: color.solarize(x, m),
    "Brightness": lambda x, m, g: color.adjust_brightness(x, 1.0 + m),
}


@lru_cache(maxsize=8)
def _stage_tables(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """MAGNITUDES and SIGNED on `device`, copied there once."""
    return MAGNITUDES.to(device), SIGNED.to(device)


@lru_cache(maxsize=8)
def _cifar10_tables(device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(2, 25) probabilities, operation ids and levels of the CIFAR-10 policy's two stages."""
    probs = torch.tensor([[row[0] for row in CIFAR10_POLICY], [row[3] for row in CIFAR10_POLICY]])
    ops = torch.tensor([[OP[row[1]] for row in CIFAR10_POLICY], [OP[row[4]] for row in CIFAR10_POLICY]])
    levels = torch.tensor([[row[2] for row in CIFAR10_POLICY], [row[5] for row in CIFAR10_POLICY]])
    return probs.to(device), ops.to(device), levels.to(device)


def apply_stage(
    images: torch.Tensor,
    ops: torch.Tensor,
    levels: torch.Tensor,
    active: torch.Tensor,
    generator: torch.Generator,
) -> torch.Tensor:
    """Apply operation ops[i] at level levels[i] to sample i where active[i] (all (N,) tensors).

    Samples are grouped by operation: one batched call per operation in use.
    """
    n = images.shape[0]
    device = images.device
    ops = torch.where(active.to(device), ops.to(device), -1)
    known = ops.clamp(min=0)
    magnitudes, signed = _stage_tables(device)
    sign = torch.where(signed[known], random_sign(n, generator, device), 1.0)
    magnitude = magnitudes[known, levels.to(device)] * sign
    out = images.clone()
    for index, name in enumerate(OPERATIONS):
        rows = (ops == index).nonzero().flatten()
        if rows.numel():
            out[rows] = _OPERATIONS[name](images[rows], magnitude[rows], generator)
    return out


def randaugment(images: torch.Tensor, generator: torch.Generator, num_ops: int = 2, p: float = 0.5) -> torch.Tensor:
    """RM's RandAugment: `num_ops` operations drawn uniformly from the 15, each at a uniform
    level in 1..9 and applied with probability p, independently per sample."""
    n = images.shape[0]
    if n == 0:
        return images
    out = images
    for _ in range(num_ops):
        ops = randint(0, len(OPERATIONS), n, generator, images.device)
        levels = randint(1, 10, n, generator, images.device)
        out = apply_stage(out, ops, levels, coin(n, p, generator, images.device), generator)
    return out


def autoaugment_cifar10(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """AutoAugment's CIFAR-10 policy: each sample draws one of the 25 sub-policies and applies
    its two operations with their own probabilities and levels."""
    n = images.shape[0]
    if n == 0:
        return images
    device = images.device
    probs, ops, levels = _cifar10_tables(device)
    chosen = randint(0, len(CIFAR10_POLICY), n, generator, device)
    out = images
    for stage in range(2):
        active = uniform(n, generator, device) < probs[stage, chosen]
        out = apply_stage(out, ops[stage, chosen], levels[stage, chosen], active, generator)
    return out
