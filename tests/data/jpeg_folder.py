"""A small ImageFolder of generated JPEGs of varied sizes and aspect ratios (tests of encoded datasets)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def write_jpeg_folder(root: Path, train: int = 120, test: int = 40, classes: int = 4,
                      sides: tuple[int, int] = (24, 96), seed: int = 0) -> Path:
    """`root/train/c<k>/<i>.jpg` and `root/val/...`: smooth class-coloured patterns plus noise,
    width and height drawn independently from `sides` (aspect ratios from 1:4 to 4:1)."""
    rng = np.random.default_rng(seed)
    for split, count in (("train", train), ("val", test)):
        for i in range(count):
            label = i % classes
            width, height = (int(v) for v in rng.integers(sides[0], sides[1] + 1, 2))
            yy, xx = np.mgrid[0:height, 0:width]
            base = np.array([(70 * label) % 256, 255 - (50 * label) % 256, (110 * label) % 256], dtype=np.float32)
            wave = 50 * np.sin(xx / (3.0 + label))[..., None] + 40 * np.cos(yy / 4.0)[..., None]
            pixels = (base + wave + rng.normal(0, 12, (height, width, 3))).clip(0, 255).astype(np.uint8)
            path = root / split / f"c{label}" / f"{i:04d}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels).save(path, quality=92)
    return root
