"""RandAugment ("randaugment" 1.0.2, as used by RM) and the AutoAugment CIFAR-10 policy.

Both policies reduce to stages in which every sample has its own (operation, magnitude
level, apply?) triple. A stage is applied by computing each of the 15 operations on the
whole batch with per-sample magnitudes and keeping each sample's own result: O(#ops) tensor
ops per stage, no per-sample Python loop and no host synchronisation.

Operations and magnitude levels 0..9, as in RM's `utils/augment.py` / randaugment 1.0.2
(DeepVoltaire's AutoAugment port, built on PIL):

* ShearX/ShearY: shear 0..0.3, random sign, about the top-left corner, bicubic, fill 128.
* TranslateX/TranslateY: 0..150/331 of the width/height, random sign, nearest, fill 128.
* Rotate: 0..30 degrees counter-clockwise (no random sign in that code), nearest, fill 128.
* Color, Contrast, Sharpness, Brightness: enhance factor 1 ± 0..0.9 (random sign).
* Posterize: keep round(linspace(8, 4)) bits. Solarize: threshold linspace(256, 0).
* Cutout: side round(linspace(0, 20)), RM's fill colour (125, 122, 113).
* AutoContrast, Equalize, Invert: no magnitude.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from retain.augment import color
from retain.augment.cutout import cutout
from retain.augment.geometric import identity_matrices, rotation_matrices, warp_affine
from retain.augment.sampling import coin, randint, random_sign

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

_PixelOp = Callable[[torch.Tensor, torch.Tensor, torch.Generator], torch.Tensor]
_PIXEL_OPS: dict[str, _PixelOp] = {
    "Invert": lambda x, m, g: color.invert(x),
    "Cutout": lambda x, m, g: cutout(x, m.long(), g, fill=rm_cutout_fill(x.shape[1])),
    "Sharpness": lambda x, m, g: color.adjust_sharpness(x, 1.0 + m),
    "AutoContrast": lambda x, m, g: color.autocontrast(x),
    "Posterize": lambda x, m, g: color.posterize(x, m.long()),
    "Equalize": lambda x, m, g: color.equalize(x),
    "Contrast": lambda x, m, g: color.adjust_contrast(x, 1.0 + m),
    "Color": lambda x, m, g: color.adjust_saturation(x, 1.0 + m),
    "Solarize": lambda x, m, g: color.solarize(x, m),
    "Brightness": lambda x, m, g: color.adjust_brightness(x, 1.0 + m),
}


def _affine_matrices(ops: torch.Tensor, magnitude: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Per-sample output→input matrices; identity for samples without an affine operation."""
    matrices = identity_matrices(ops.shape[0], ops.device)
    is_op = {name: ops == OP[name] for name in ("ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate")}
    matrices[:, 0, 1] = torch.where(is_op["ShearX"], magnitude, 0.0)
    matrices[:, 1, 0] = torch.where(is_op["ShearY"], magnitude, 0.0)
    matrices[:, 0, 2] = torch.where(is_op["TranslateX"], magnitude * width, 0.0)
    matrices[:, 1, 2] = torch.where(is_op["TranslateY"], magnitude * height, 0.0)
    rotations = rotation_matrices(torch.where(is_op["Rotate"], magnitude, 0.0), height, width)
    return torch.where(is_op["Rotate"].view(-1, 1, 1), rotations, matrices)


def apply_stage(
    images: torch.Tensor,
    ops: torch.Tensor,
    levels: torch.Tensor,
    active: torch.Tensor,
    generator: torch.Generator,
) -> torch.Tensor:
    """Apply operation ops[i] at level levels[i] to sample i where active[i] (all (N,) tensors)."""
    n, _, h, w = images.shape
    device = images.device
    ops = torch.where(active, ops.to(device), -1)
    levels = levels.to(device)
    sign = torch.where(SIGNED.to(device)[ops.clamp(min=0)], random_sign(n, generator, device), 1.0)
    magnitude = MAGNITUDES.to(device)[ops.clamp(min=0), levels] * sign

    def keep(selected: torch.Tensor, result: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
        return torch.where(selected.view(-1, 1, 1, 1), result, current)

    out = images
    matrices = _affine_matrices(ops, magnitude, h, w)
    sheared = (ops == OP["ShearX"]) | (ops == OP["ShearY"])
    moved = (ops == OP["TranslateX"]) | (ops == OP["TranslateY"]) | (ops == OP["Rotate"])
    out = keep(sheared, warp_affine(images, matrices, POLICY_FILL, mode="bicubic"), out)
    out = keep(moved, warp_affine(images, matrices, POLICY_FILL, mode="nearest"), out)
    for name, operation in _PIXEL_OPS.items():
        out = keep(ops == OP[name], operation(images, magnitude, generator), out)
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
    table = CIFAR10_POLICY
    chosen = randint(0, len(table), n, generator, device)
    out = images
    for first in (0, 3):
        probs = torch.tensor([row[first] for row in table], device=device)[chosen]
        ops = torch.tensor([OP[row[first + 1]] for row in table], device=device)[chosen]
        levels = torch.tensor([row[first + 2] for row in table], device=device)[chosen]
        active = torch.rand(n, generator=generator, device=generator.device).to(device) < probs
        out = apply_stage(out, ops, levels, active, generator)
    return out
