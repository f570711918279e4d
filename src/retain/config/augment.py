"""The `augment` section: which training augmentations run (composed by retain.augment.Augmenter)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from retain.config.strict import StrictSection


class AugmentConfig(StrictSection):
    """Which training augmentations run (every one is off by default except normalisation)."""

    crop_padding: int = Field(0, ge=0, description="random crop after zero padding by this many pixels; 0 = off")
    flip: bool = Field(False, description="horizontal flip with p = 0.5")
    brightness: float = Field(0.0, ge=0, description="ColorJitter brightness: factor ~ U[max(0, 1−v), 1+v]")
    contrast: float = Field(0.0, ge=0, description="ColorJitter contrast: factor ~ U[max(0, 1−v), 1+v]")
    saturation: float = Field(0.0, ge=0, description="ColorJitter saturation: factor ~ U[max(0, 1−v), 1+v]")
    cutout: int = Field(0, ge=0, description="side of the black Cutout square; 0 = off")
    randaugment: bool = Field(False, description="RM's RandAugment: 2 of 15 ops, p = 0.5, level 1..9")
    autoaugment: Literal["none", "cifar10"] = Field("none", description="AutoAugment policy")
    normalize: bool = Field(True, description="subtract the dataset mean and divide by its std")
    mean: list[float] | None = Field(None, description="per-channel normalisation mean instead of the dataset's (a paper's own constants)")
    std: list[float] | None = Field(None, description="per-channel normalisation std instead of the dataset's; LUCIR's CIFAR-100 script uses (0.2009, 0.1984, 0.2023)")
    cutmix: bool = Field(False, description="CutMix on the loss side (GDumb/RM): one box per batch, loss mixed by area")
    cutmix_p: float = Field(0.5, ge=0, le=1, description="probability that a batch is CutMix-ed")
    cutmix_alpha: float = Field(1.0, gt=0, description="λ ~ Beta(α, α) before the box-area correction")

    @field_validator("std")
    @classmethod
    def _std_positive(cls, value: list[float] | None) -> list[float] | None:
        if value is not None and (not value or any(v <= 0 for v in value)):
            raise ValueError(f"augment.std={value} must hold one positive value per channel, e.g. [0.2009, 0.1984, 0.2023]")
        return value

    @model_validator(mode="after")
    def _mean_and_std_agree(self) -> "AugmentConfig":
        if self.mean is not None and self.std is not None and len(self.mean) != len(self.std):
            raise ValueError(f"augment.mean={self.mean} and augment.std={self.std} must have one value per channel each")
        return self
