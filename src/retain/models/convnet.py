"""Small convolutional backbones: a quick ConvNet and MEMO's two-block ConvNet2."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from retain.models.layers import GlobalAvgPool
from retain.models.split import SplitBackbone

CONVNET2_CHANNELS = 64


def conv_block(in_channels: int, out_channels: int, relu: bool = True) -> nn.Sequential:
    """conv3×3 (with bias, as in MEMO's conv_cifar) - BN - ReLU - MaxPool2 (no ReLU when `relu` is False)."""
    layers: list[nn.Module] = [nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=True), nn.BatchNorm2d(out_channels)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


class ConvNet(nn.Module):
    """A stack of conv blocks (default 32/64/64 channels) and a global average pool; for quick runs.

    `last_relu=False` drops the last block's ReLU so features can be negative (LUCIR).
    """

    def __init__(self, in_channels: int = 3, channels: Sequence[int] = (32, 64, 64), last_relu: bool = True) -> None:
        super().__init__()
        widths = [in_channels, *channels]
        pairs = list(zip(widths[:-1], widths[1:]))
        self.blocks = nn.Sequential(*(conv_block(a, b, relu=last_relu or i < len(pairs) - 1) for i, (a, b) in enumerate(pairs)))
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
