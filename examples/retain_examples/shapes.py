"""A dataset as a retain plugin: six kinds of shapes drawn with numpy, 16×16 grey images.

Classes: square, ring, horizontal bar, vertical bar, plus, cross (×); each image has a random
position, size and brightness plus noise. Made from a seed, so nothing is downloaded.
"""

from __future__ import annotations

import numpy as np

from retain import Dataset, LoadRequest, dataset_from_arrays, register_dataset

SIZE = 16
CLASSES = ("square", "ring", "horizontal bar", "vertical bar", "plus", "cross")


def draw(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """uint8 images (N, 1, 16, 16), one shape of class `labels[i]` in image i."""
    n = len(labels)
    y, x = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    cy, cx = (rng.uniform(5, SIZE - 5, (2, n, 1, 1))).astype(np.float32)
    radius = rng.uniform(2.5, 4.5, (n, 1, 1)).astype(np.float32)
    dy, dx = y - cy, x - cx
    inside = np.maximum(np.abs(dx), np.abs(dy)) <= radius + 0.5
    masks = np.stack([
        np.maximum(np.abs(dx), np.abs(dy)) <= radius,                          # square
        np.abs(np.hypot(dx, dy) - radius) <= 0.7,                              # ring
        (np.abs(dy) <= 1) & (np.abs(dx) <= radius + 1),                        # horizontal bar
        (np.abs(dx) <= 1) & (np.abs(dy) <= radius + 1),                        # vertical bar
        ((np.abs(dy) <= 0.5) | (np.abs(dx) <= 0.5)) & inside,                  # plus
        ((np.abs(dx - dy) <= 0.7) | (np.abs(dx + dy) <= 0.7)) & inside,        # cross
    ])[labels, np.arange(n)]
    brightness = rng.uniform(150, 255, (n, 1, 1))
    pixels = masks * brightness + rng.normal(0, 20, (n, SIZE, SIZE))
    return np.clip(pixels, 0, 255).astype(np.uint8)[:, None]


@register_dataset("shapes", image_shape=(1, SIZE, SIZE), num_classes=len(CLASSES))
def shapes(request: LoadRequest, *, train_per_class: int = 300, test_per_class: int = 100, seed: int = 0) -> Dataset:
    """`train_per_class` + `test_per_class` images of each class, drawn with `seed` (data.options)."""
    rng = np.random.default_rng(seed)
    train_labels = np.repeat(np.arange(len(CLASSES)), train_per_class)
    test_labels = np.repeat(np.arange(len(CLASSES)), test_per_class)
    # A plain (train_images, train_labels, test_images, test_labels) tuple would do too;
    # dataset_from_arrays adds the class names (and computes the normalisation statistics).
    return dataset_from_arrays(request.name, draw(train_labels, rng), train_labels, draw(test_labels, rng),
                               test_labels, class_names=CLASSES)
