"""The per-sample reference pipeline of PyCIL/Mammoth, in plain torch + PIL.

A `torch.utils.data.Dataset` over uint8 HWC arrays turns each image into a PIL image and
applies per-sample transforms (RandomCrop with zero padding, horizontal flip, ToTensor,
Normalize); a DataLoader with worker processes collates the batches.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image, ImageOps


class PerSampleTransform:
    """RandomCrop(size, padding, fill 0) → RandomHorizontalFlip(0.5) → ToTensor → Normalize, one image at a time."""

    def __init__(self, padding: int, flip: bool, mean: Sequence[float], std: Sequence[float]) -> None:
        self.padding = padding
        self.flip = flip
        self.mean = torch.tensor(list(mean), dtype=torch.float32).view(-1, 1, 1)
        self.std = torch.tensor(list(std), dtype=torch.float32).view(-1, 1, 1)

    def __call__(self, image: Image.Image) -> torch.Tensor:
        width, height = image.size
        if self.padding:
            padded = ImageOps.expand(image, border=self.padding, fill=0)
            left = random.randint(0, 2 * self.padding)
            top = random.randint(0, 2 * self.padding)
            image = padded.crop((left, top, left + width, top + height))
        if self.flip and random.random() < 0.5:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        array = np.asarray(image, dtype=np.uint8)
        if array.ndim == 2:
            array = array[:, :, None]
        tensor = torch.from_numpy(array.copy()).permute(2, 0, 1).float().div(255.0)
        return (tensor - self.mean) / self.std


class PILDataset(torch.utils.data.Dataset):
    """uint8 images N×H×W×C (numpy) and labels, served as transformed tensors one by one."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform: PerSampleTransform) -> None:
        self.images = images
        self.labels = labels
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        array = self.images[index]
        image = Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array)
        return self.transform(image), int(self.labels[index])


def _seed_worker(worker_id: int) -> None:
    random.seed(torch.initial_seed() % 2**32)


def reference_loader(
    images_nchw: torch.Tensor,
    labels: torch.Tensor,
    batch_size: int,
    padding: int,
    flip: bool,
    mean: Sequence[float],
    std: Sequence[float],
    workers: int = 2,
    seed: int = 0,
) -> torch.utils.data.DataLoader:
    """A shuffled DataLoader over the images with `workers` processes (persistent between epochs)."""
    images = images_nchw.permute(0, 2, 3, 1).contiguous().numpy()
    dataset = PILDataset(images, labels.numpy(), PerSampleTransform(padding, flip, mean, std))
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=True,
        num_workers=workers,
        persistent_workers=workers > 0,
        worker_init_fn=_seed_worker,
        generator=torch.Generator().manual_seed(seed),
    )
