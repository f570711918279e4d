"""The run's augmentation pipeline: a validated config composed into batched steps.

Training order (RM's `main.py` and PyCIL): random crop with zero padding (or RandomResizedCrop) → horizontal flip →
colour jitter → RandAugment → AutoAugment → Cutout → float in [0, 1] → normalise. The steps
run on uint8 batches on the training device and draw from the augmenter's own generator.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from retain.augment.color import color_jitter
from retain.augment.cutmix import CutMixResult, cutmix
from retain.augment.cutout import cutout
from retain.augment.geometric import horizontal_flip, random_crop
from retain.augment.policies import autoaugment_cifar10, randaugment
from retain.augment.resized_crop import crop_boxes, resized_crop
from retain.config import AugmentConfig
from retain.errors import ConfigError


_Step = Callable[[torch.Tensor], torch.Tensor]


def _paper_statistics(config: AugmentConfig, mean: Sequence[float], std: Sequence[float]) -> tuple[Sequence[float], Sequence[float]]:
    """The dataset's normalisation statistics, or augment.mean / augment.std where given (e.g.
    LUCIR's CIFAR std); each must have one value per channel of the dataset."""
    for field, given, own in (("mean", config.mean, mean), ("std", config.std, std)):
        if given is not None and len(given) != len(own):
            raise ConfigError(
                f"augment.{field}={list(given)} has {len(given)} values, but the dataset has {len(own)} channel(s) "
                f"(its own {field}: {tuple(own)}); give one value per channel or leave augment.{field} unset."
            )
    return (config.mean if config.mean is not None else mean), (config.std if config.std is not None else std)


class Augmenter:
    """Batched train/eval transforms on the training device, driven by one seeded generator.

    Same seed and same inputs give identical outputs; `state_dict()` captures the generator
    so a resumed run continues the same stream of draws.
    """

    def __init__(
        self,
        config: AugmentConfig,
        mean: Sequence[float],
        std: Sequence[float],
        device: torch.device | str = "cpu",
        seed: int = 0,
        side: int | None = None,
    ) -> None:
        mean, std = _paper_statistics(config, mean, std)
        if len(mean) != len(std) or not len(mean):
            raise ConfigError(
                f"Normalisation mean {tuple(mean)} and std {tuple(std)} must have one value per channel "
                "and the same length."
            )
        if any(s <= 0 for s in std):
            raise ConfigError(f"Normalisation std {tuple(std)} must be positive in every channel.")
        self.config = config
        self.device = torch.device(device)
        self.seed = seed
        self._generator = torch.Generator(device=self.device)
        self._generator.manual_seed(seed)
        # RandomResizedCrop boxes come from their own CPU generator: an encoded dataset draws them
        # ahead of the step (its decode threads cut them), in-memory rows at the step.
        self._crop_generator = torch.Generator().manual_seed(_derived_seed(seed))
        self.side = side
        self._mean = torch.tensor(list(mean), dtype=torch.float32, device=self.device).view(1, -1, 1, 1)
        self._std = torch.tensor(list(std), dtype=torch.float32, device=self.device).view(1, -1, 1, 1)
        self._steps = self._compose(config)

    # ------------------------------------------------------------------ composition
    def _compose(self, c: AugmentConfig) -> list[tuple[str, _Step]]:
        g = self._generator
        steps: list[tuple[str, _Step]] = []
        if c.crop_padding:
            steps.append((f"RandomCrop(padding={c.crop_padding}, fill=0)", lambda x: random_crop(x, c.crop_padding, g)))
        if c.flip:
            steps.append(("RandomHorizontalFlip(p=0.5)", lambda x: horizontal_flip(x, g)))
        if c.brightness or c.contrast or c.saturation:
            steps.append((
                f"ColorJitter(brightness={c.brightness:g}, contrast={c.contrast:g}, saturation={c.saturation:g})",
                lambda x: color_jitter(x, g, c.brightness, c.contrast, c.saturation),
            ))  # fmt: skip
        if c.randaugment:
            steps.append(("RandAugment(2 of 15 ops, p=0.5, level 1..9)", lambda x: randaugment(x, g)))
        if c.autoaugment == "cifar10":
            steps.append(("AutoAugment(CIFAR-10 policy, 25 sub-policies)", lambda x: autoaugment_cifar10(x, g)))
        if c.cutout:
            steps.append((f"Cutout({c.cutout}, fill=0)", lambda x: cutout(x, c.cutout, g)))
        return steps

    def crop_boxes(self, heights: torch.Tensor, widths: torch.Tensor) -> torch.Tensor:
        """RandomResizedCrop boxes (N×4: top, left, height, width) for images of these sizes (CPU)."""
        c = self.config
        return crop_boxes(heights, widths, self._crop_generator, tuple(c.resized_crop_scale), tuple(c.resized_crop_ratio))

    def check_shape(self, image_shape: Sequence[int]) -> None:
        """Refuse, before training, a RandomResizedCrop that has no square side to crop to."""
        if self.config.resized_crop and self.side is None and image_shape[1] != image_shape[2]:
            raise ConfigError(
                f"augment.resized_crop = true crops square images of side data.image_size; the images are "
                f"{image_shape[1]}×{image_shape[2]} and data.image_size is unset. Set data.image_size."
            )

    def _crop_side(self, images: torch.Tensor) -> int:
        self.check_shape(images.shape[1:])
        return self.side if self.side is not None else int(images.shape[2])

    def resized_crop(self, images: torch.Tensor) -> torch.Tensor:
        """RandomResizedCrop of every image of a uint8 batch on the device (boxes drawn here)."""
        n, _, h, w = images.shape
        boxes = self.crop_boxes(torch.full((n,), h), torch.full((n,), w))
        return resized_crop(images, boxes, self._crop_side(images))

    def describe(self) -> str:
        """The composed train and eval transforms, one line each (logged at run start)."""
        tail = ["ToFloat(/255)"]
        if self.config.normalize:
            mean = ", ".join(f"{v:.4f}" for v in self._mean.flatten().tolist())
            std = ", ".join(f"{v:.4f}" for v in self._std.flatten().tolist())
            tail.append(f"Normalize(mean=({mean}), std=({std}))")
        train = [name for name, _ in self._steps] + tail
        if self.config.resized_crop:
            c = self.config
            train.insert(0, f"RandomResizedCrop({self.side or 'H'}, scale={tuple(c.resized_crop_scale)}, "
                            f"ratio=({c.resized_crop_ratio[0]:.4g}, {c.resized_crop_ratio[1]:.4g}), bilinear)")
        if self.config.cutmix:
            train.append(f"CutMix(p={self.config.cutmix_p:g}, alpha={self.config.cutmix_alpha:g}, loss-mixed)")
        return (
            f"train transform ({self.device}, seed {self.seed}): " + " -> ".join(train) + "\n"
            "eval transform: " + " -> ".join(tail)
        )

    # ------------------------------------------------------------------ transforms
    def _check(self, images: torch.Tensor) -> torch.Tensor:
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise TypeError(f"expected uint8 images of shape N×C×H×W, got {images.dtype} {tuple(images.shape)}")
        channels = self._mean.shape[1]
        if channels != 1 and images.shape[1] != channels:
            raise ValueError(f"images have {images.shape[1]} channels but the normalisation has {channels}")
        return images.to(self.device)

    def to_float(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 → float32 in [0, 1] on the device, no normalisation."""
        return self._check(images).float().div_(255.0)

    def _finish(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float().div_(255.0)
        return x.sub_(self._mean).div_(self._std) if self.config.normalize else x

    def train(self, images: torch.Tensor, cropped: bool = False) -> torch.Tensor:
        """The random training transform of a uint8 batch, as normalised float32.

        `cropped`: the RandomResizedCrop was already applied (an encoded dataset cuts it while decoding)."""
        x = self._check(images)
        if self.config.resized_crop and not cropped:
            x = self.resized_crop(x)
        for _, step in self._steps:
            x = step(x)
        return self._finish(x)

    def mix(self, images: torch.Tensor, labels: torch.Tensor) -> CutMixResult | None:
        """CutMix an augmented batch when `cutmix` is on (None when off); the loss mixes by the result."""
        if not self.config.cutmix:
            return None
        return cutmix(images, labels, self._generator, alpha=self.config.cutmix_alpha, p=self.config.cutmix_p)

    def eval(self, images: torch.Tensor) -> torch.Tensor:
        """The deterministic evaluation transform: (x / 255 − mean) / std."""
        return self._finish(self._check(images))

    # ------------------------------------------------------------------ state
    @property
    def generator(self) -> torch.Generator:
        return self._generator

    def state_dict(self) -> dict[str, Any]:
        """The generator state (a CPU uint8 tensor), enough to reproduce the next draws."""
        return {"generator": self._generator.get_state(), "crop_generator": self._crop_generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._generator.set_state(state["generator"].cpu())
        if "crop_generator" in state:  # checkpoints written before RandomResizedCrop have none
            self._crop_generator.set_state(state["crop_generator"].cpu())


def _derived_seed(seed: int) -> int:
    """A second seed from the run's (an LCG step), so crop draws are not the flip draws again."""
    return (seed * 6364136223846793005 + 1442695040888963407) % 2**63
