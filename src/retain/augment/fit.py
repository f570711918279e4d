"""Augmentation sizes checked against the dataset's images once their size is known.

A size that cannot fit the image does not fail: it blanks it. A Cutout square wider than the
image (`augment.cutout` 100 on 8×8 digits) can cover every pixel, and a crop padding as wide as
the image can crop a window of padding only, so accuracy collapses with no error. These are
refused at setup, naming the field, the value and the image size.
"""

from __future__ import annotations

from collections.abc import Sequence

from retain.config.augment import AugmentConfig
from retain.errors import ConfigError


def check_augment_fits(config: AugmentConfig, image_shape: Sequence[int], dataset: str) -> None:
    """ConfigError when augment.cutout exceeds the image's shorter side or augment.crop_padding reaches it."""
    _, height, width = (int(s) for s in image_shape)
    side = min(height, width)
    if config.cutout > side:
        raise ConfigError(
            f"augment.cutout={config.cutout} is wider than the {height}x{width} images of dataset {dataset!r}: a square "
            f"of that side, centred anywhere, blanks {'every image entirely' if config.cutout >= 2 * max(height, width) else 'most of each image'}. "
            f"Allowed: 0 (off) to {side} pixels; Cutout papers use about half the side ({max(side // 2, 1)} here)."
        )
    if config.crop_padding >= side:
        raise ConfigError(
            f"augment.crop_padding={config.crop_padding} is not smaller than the {height}x{width} images of dataset "
            f"{dataset!r}: a random crop of the padded image can then hold padding only (a blank image). Allowed: 0 "
            f"(off) to {side - 1} pixels; the usual padding is an eighth of the side (4 on 32x32)."
        )
