"""A backbone as a retain plugin: a two-block CNN whose width is an option (`model.options.width`)."""

from __future__ import annotations

import torch
from torch import nn

from retain import register_backbone


class TinyCNN(nn.Module):
    """conv-BN-ReLU-maxpool, conv-BN-ReLU, global average pool: (N, C, H, W) → (N, 2·width)."""

    def __init__(self, in_channels: int, width: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1, bias=False), nn.BatchNorm2d(2 * width), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.out_dim = 2 * width  # retain sizes the classifier head from this

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


@register_backbone("tiny-cnn")
def tiny_cnn(in_channels: int, image_size: int, *, width: int = 16) -> nn.Module:
    """The TinyCNN for `in_channels`-channel images; `width` channels in the first block."""
    if image_size < 2:
        raise ValueError(f"tiny-cnn needs images of at least 2 pixels, got {image_size}")
    return TinyCNN(in_channels, width)
