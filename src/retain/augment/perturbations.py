"""RM's `vr` perturbation set: the 12 transforms whose prediction votes give the variation ratio.

RM (`methods/finetune.py::montecarlo`, uncert_metric "vr") applies each to the raw image
before the test transform: Cutout(8/16/24/32) with RM's fill colour, RandomHorizontalFlip and
RandomVerticalFlip (p = 0.5, so random), RandomRotation(45/90) (angle ~ U[−d, d], nearest,
fill 0), Invert, Solarize(128/64/32). Each callable maps (uint8 images, generator) → uint8.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from retain.augment import color
from retain.augment.cutout import cutout
from retain.augment.geometric import horizontal_flip, random_rotation, vertical_flip
from retain.augment.policies import randaugment, rm_cutout_fill


@dataclass(frozen=True)
class Perturbation:
    """A named batched perturbation `fn(images_uint8, generator) -> uint8`."""

    name: str
    fn: Callable[[torch.Tensor, torch.Generator], torch.Tensor]

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return self.fn(images, generator)

    def __repr__(self) -> str:
        return self.name


def _cutout(size: int) -> Perturbation:
    return Perturbation(f"Cutout({size})", lambda x, g: cutout(x, size, g, fill=rm_cutout_fill(x.shape[1])))


def _rotation(degrees: float) -> Perturbation:
    return Perturbation(f"Rotation({degrees:g})", lambda x, g: random_rotation(x, degrees, g))


def _solarize(threshold: int) -> Perturbation:
    return Perturbation(f"Solarize({threshold})", lambda x, g: color.solarize(x, threshold))


def rm_perturbations() -> list[Perturbation]:
    """RM's `vr` set of 12 perturbations, in RM's order."""
    return [
        _cutout(8), _cutout(16), _cutout(24), _cutout(32),
        Perturbation("HFlip", lambda x, g: horizontal_flip(x, g, p=0.5)),
        Perturbation("VFlip", lambda x, g: vertical_flip(x, g, p=0.5)),
        _rotation(45), _rotation(90),
        Perturbation("Invert", lambda x, g: color.invert(x)),
        _solarize(128), _solarize(64), _solarize(32),
    ]  # fmt: skip


def rm_randaugment_perturbations(count: int = 12) -> list[Perturbation]:
    """RM's `vr_randaug` set (its experiment.sh default): `count` independent RandAugment draws."""
    return [Perturbation(f"RandAugment#{i}", lambda x, g: randaugment(x, g)) for i in range(count)]
