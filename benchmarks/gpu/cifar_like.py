"""A learnable, CIFAR-shaped synthetic dataset registered as `data.name: gpu-check-cifar`.

Loaded by retain runs as a plugin file (`imports: [<this file>]`), so a run in this process,
a `retain run` subprocess and every rank of `--nproc` build the same images from the same seed.
It uses only retain's public API (`retain.register_dataset`, `retain.Dataset`,
`retain.ImageSplit`): nothing here moves when retain's internals do.

Each class is a smooth random colour pattern (a 4×4×3 grid upsampled to the image size); an
image is its class's pattern with a random brightness offset and Gaussian pixel noise. A ResNet learns it within an epoch or two to well above chance but
short of 100 %, so an accuracy matrix is sensitive to a data path that is wrong (labels,
normalisation, augmentation) and not pinned at chance like uniform noise would be.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

import retain

DATASET_NAME = "gpu-check-cifar"
NUM_CLASSES = 100  # CIFAR-100's
CHUNK = 4096  # rows made at once: bounds the float working set (~50 MB)


def _prototypes(num_classes: int, size: int, generator: torch.Generator) -> torch.Tensor:
    grid = torch.rand(num_classes, 3, 4, 4, generator=generator) * 255.0
    return F.interpolate(grid, size=(size, size), mode="bilinear", align_corners=False)


def _split(prototypes: torch.Tensor, per_class: int, noise: float, generator: torch.Generator) -> retain.ImageSplit:
    num_classes = prototypes.shape[0]
    labels = torch.arange(num_classes).repeat_interleave(per_class)
    labels = labels[torch.randperm(labels.numel(), generator=generator)]
    images = torch.empty(labels.numel(), *prototypes.shape[1:], dtype=torch.uint8)
    for start in range(0, labels.numel(), CHUNK):
        part = labels[start:start + CHUNK]
        rows = prototypes[part]
        offset = (torch.rand(part.numel(), 1, 1, 1, generator=generator) - 0.5) * 64.0
        rows = rows + offset + torch.randn(rows.shape, generator=generator) * noise
        images[start:start + CHUNK] = rows.round_().clamp_(0, 255).to(torch.uint8)
    return retain.ImageSplit(images, labels)


def _blank(prototypes: torch.Tensor, per_class: int, noise: float, generator: torch.Generator) -> retain.ImageSplit:
    labels = torch.arange(prototypes.shape[0]).repeat_interleave(per_class)
    return retain.ImageSplit(torch.zeros(1, *prototypes.shape[1:], dtype=torch.uint8).expand(labels.numel(), -1, -1, -1), labels)


@retain.register_dataset(DATASET_NAME, image_shape=(3, 32, 32), num_classes=NUM_CLASSES)
def load_cifar_like(request, *, train_per_class: int = 500, test_per_class: int = 100, noise: float = 60.0,
                    seed: int = 0, plan_only: bool = False) -> retain.Dataset:
    """CIFAR-100's shape and size by default: 100 classes, 500 training and 100 test images each.
    `plan_only`: the labels with all-zero images that take no memory (one zero image expanded),
    enough for a dry run's task plan in milliseconds, nothing to learn from."""
    generator = torch.Generator().manual_seed(seed)
    prototypes = _prototypes(NUM_CLASSES, 32, generator)
    make = _blank if plan_only else _split
    train = make(prototypes, train_per_class, noise, generator)
    test = make(prototypes, test_per_class, noise, generator)
    return retain.Dataset(
        name=DATASET_NAME, train=train, test=test, class_names=[f"pattern{c}" for c in range(NUM_CLASSES)],
        mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25),
    )
