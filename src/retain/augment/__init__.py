"""Batched augmentation of uint8 N×C×H×W tensors on the training device.

`Augmenter` composes the configured training transform (`AugmentConfig`) and the plain
evaluation transform; the standalone functions below are the same operations for methods
that need them directly (RM's uncertainty perturbations, CutMix in the loss).
"""

from retain.augment.augmenter import AugmentConfig, Augmenter
from retain.augment.color import (
    adjust_brightness,
    adjust_contrast,
    adjust_saturation,
    adjust_sharpness,
    autocontrast,
    color_jitter,
    equalize,
    invert,
    posterize,
    solarize,
)
from retain.augment.cutmix import CutMixResult, cutmix, mixed_cross_entropy
from retain.augment.cutout import cutout
from retain.augment.geometric import horizontal_flip, random_crop, random_rotation, rotate, vertical_flip, warp_affine
from retain.augment.perturbations import Perturbation, rm_perturbations, rm_randaugment_perturbations
from retain.augment.policies import OPERATIONS, autoaugment_cifar10, randaugment
from retain.augment.resized_crop import crop_boxes, resized_crop

__all__ = [
    "OPERATIONS",
    "AugmentConfig",
    "Augmenter",
    "CutMixResult",
    "Perturbation",
    "adjust_brightness",
    "adjust_contrast",
    "adjust_saturation",
    "adjust_sharpness",
    "autoaugment_cifar10",
    "autocontrast",
    "color_jitter",
    "cutmix",
    "crop_boxes",
    "cutout",
    "equalize",
    "horizontal_flip",
    "invert",
    "mixed_cross_entropy",
    "posterize",
    "random_crop",
    "random_rotation",
    "randaugment",
    "resized_crop",
    "rm_perturbations",
    "rm_randaugment_perturbations",
    "rotate",
    "solarize",
    "vertical_flip",
    "warp_affine",
]
