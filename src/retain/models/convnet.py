"""Small convolutional backbones: a quick ConvNet and MEMO's two-block ConvNet2."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from retain.models.layers import GlobalAvgPool
from retain.models.split import SplitBackbone

CONVNET2_CHANNELS = 64


def conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """conv3×3 (with bias, as in MEMO's conv_cifar) - BN - ReLU - MaxPool2."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=True),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
    )


class ConvNet(nn.Module):
    """A stack of conv blocks (default 32/64/64 channels) and a global average pool; for quick runs."""

    def __init__(self, in_channels: int = 3, channels: Sequence[int] = (32, 64, 64)) -> None:
        super().__init__()
        widths = [in_channels, *channels]
        self.blocks = nn.Sequential(*(conv_block(a, b) for a, b in zip(widths[:-1], widths[1:])))
        self.pool = GlobalAvgPool()
        self.out_dim = widths[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.blocks(x))


def split_convnet2(in_channels: int = 3) -> SplitBackbone:
    """MEMO's ConvNet2: the first conv block is generalized, the second (+ pool) specialized."""

    def make_specialized() -> nn.Module:
        return nn.Sequential(conv_block(CONVNET2_CHANNELS, CONVNET2_CHANNELS), GlobalAvgPool())

    return SplitBackbone(
        conv_block(in_channels, CONVNET2_CHANNELS),
        make_specialized,
        feature_dim=CONVNET2_CHANNELS,
        generalized_channels=CONVNET2_CHANNELS,
    )
