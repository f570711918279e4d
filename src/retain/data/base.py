"""The in-memory dataset: uint8 images N×C×H×W, int64 labels and class names per split."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from retain.errors import DatasetError


@dataclass
class ImageSplit:
    """One split of a dataset: uint8 images (N, C, H, W) and int64 labels (N,).

    `images` is a tensor, or an object indexed like one that decodes on demand
    (`retain.data.encoded.EncodedImages`: `is_encoded` says which)."""

    images: torch.Tensor
    labels: torch.Tensor

    @property
    def is_encoded(self) -> bool:
        """True when the images stay encoded and are decoded per batch."""
        return not isinstance(self.images, torch.Tensor)

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise DatasetError(
                f"ImageSplit.images must be a uint8 tensor (N, C, H, W); got dtype "
                f"{self.images.dtype} with shape {tuple(self.images.shape)}."
            )
        if self.labels.dtype != torch.int64 or self.labels.dim() != 1:
            raise DatasetError(
                f"ImageSplit.labels must be an int64 tensor (N,); got dtype {self.labels.dtype} "
                f"with shape {tuple(self.labels.shape)}."
            )
        if len(self.images) != len(self.labels):
            raise DatasetError(
                f"ImageSplit has {len(self.images)} images but {len(self.labels)} labels; "
                "they must be equal."
            )

    def __len__(self) -> int:
        return len(self.labels)

    @classmethod
    def from_numpy(cls, images: np.ndarray, labels: np.ndarray) -> ImageSplit:
        """Wrap numpy arrays (copied to contiguous uint8 / int64 tensors)."""
        return cls(
            torch.from_numpy(np.ascontiguousarray(images, dtype=np.uint8)),
            torch.from_numpy(np.ascontiguousarray(labels, dtype=np.int64)),
        )

    def to(self, device: torch.device | str) -> ImageSplit:
        """The same split with both tensors on `device`."""
        return ImageSplit(self.images.to(device), self.labels.to(device))


@dataclass
class Dataset:
    """A train and a test split with class names and per-channel normalisation statistics."""

    name: str
    train: ImageSplit
    test: ImageSplit
    class_names: list[str]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    notes: list[str] = field(default_factory=list)  # lines for the run log (e.g. how the images are held)

    def __post_init__(self) -> None:
        if self.train.images.shape[1:] != self.test.images.shape[1:]:
            raise DatasetError(
                f"Dataset {self.name!r}: train images have shape {tuple(self.train.images.shape[1:])} "
                f"but test images {tuple(self.test.images.shape[1:])}; they must match."
            )
        channels = self.train.images.shape[1]
        if len(self.mean) != channels or len(self.std) != channels:
            raise DatasetError(
                f"Dataset {self.name!r}: mean {self.mean} and std {self.std} need one value per "
                f"channel ({channels})."
            )

    @property
    def num_classes(self) -> int:
        """The number of classes (the length of `class_names`)."""
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of every image."""
        channels, height, width = self.train.images.shape[1:]
        return (int(channels), int(height), int(width))

    def to(self, device: torch.device | str) -> Dataset:
        """The same dataset with every tensor on `device`."""
        return Dataset(
            name=self.name,
            train=self.train.to(device),
            test=self.test.to(device),
            class_names=list(self.class_names),
            mean=self.mean,
            std=self.std,
            notes=list(self.notes),
        )


@dataclass(frozen=True)
class LoadRequest:
    """What the caller of `load_dataset` asked for; every source loader receives one."""

    name: str
    data_dir: Path | None = None
    download: bool = True
    mirror: str | None = None
    image_size: tuple[int, int] | None = None
    path: Path | None = None  # data.path: the location, for sources that read one (hf)
    # Folder sources (retain.data.storage.load_listing): the square side of the images handed to
    # training (data.image_size), the short side before the centre crop of the evaluation view
    # (augment.eval_resize), and how the images are held (data.storage, data.max_side, data.workers).
    side: int | None = None
    eval_resize: int | None = None
    storage: str = "memory"
    max_side: int = 256
    workers: int | None = None


def channel_stats(images: np.ndarray | torch.Tensor, chunk: int = 4096) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and (population) std of uint8 images N×C×H×W, in [0, 1] units.

    Accumulates in float64 over chunks so large datasets never need a float copy.
    """
    array = images.numpy() if isinstance(images, torch.Tensor) else images
    channels = array.shape[1]
    total = np.zeros(channels)
    total_sq = np.zeros(channels)
    for start in range(0, len(array), chunk):
        block = array[start : start + chunk].astype(np.float64) / 255.0
        total += block.sum(axis=(0, 2, 3))
        total_sq += np.square(block).sum(axis=(0, 2, 3))
    count = array.shape[0] * array.shape[2] * array.shape[3]
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean**2, 0.0))
    return tuple(float(m) for m in mean), tuple(float(s) for s in std)


def check_label_range(labels: np.ndarray, num_classes: int, source: str) -> None:
    """DatasetError naming `source` when a label lies outside 0..num_classes-1."""
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise DatasetError(
            f"{source} has labels from {labels.min()} to {labels.max()}; expected 0 to {num_classes - 1}."
        )
