"""CIFAR ResNet-d (He et al. 2016, §4.2): three stages of 16/32/64 channels, option-A shortcuts.

This is the ResNet-32 of iCaRL, LUCIR, PyCIL and MEMO; depths 14/20/26 are MEMO's AUC backbones.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from retain.errors import ConfigError
from retain.models.layers import BasicBlock, GlobalAvgPool, he_init_
from retain.models.split import SplitBackbone

STAGE_CHANNELS = (16, 32, 64)


class OptionAShortcut(nn.Module):
    """Parameter-free shortcut: subsample by the stride, then append zero channels."""

    def __init__(self, extra_channels: int, stride: int) -> None:
        super().__init__()
        self.extra_channels = extra_channels
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        # Pad dimension 1 (channels) at the end, as PyCIL's DownsampleA does.
        return F.pad(x, (0, 0, 0, 0, 0, self.extra_channels))


def option_a_shortcut(in_channels: int, out_channels: int, stride: int) -> nn.Module:
    return OptionAShortcut(out_channels - in_channels, stride)


def cifar_block(in_channels: int, out_channels: int, stride: int = 1, relu_out: bool = True) -> BasicBlock:
    """A CIFAR ResNet basic block (option-A shortcut)."""
    return BasicBlock(in_channels, out_channels, stride, relu_out, option_a_shortcut)


def blocks_per_stage(depth: int) -> int:
    """n = (depth − 2) / 6 basic blocks per stage; depth must be 6n + 2 with n ≥ 1."""
    if not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        raise ConfigError(f"CIFAR ResNet depth {depth!r} is not allowed; it must be 6n + 2 (8, 14, 20, 26, 32, ...).")
    return (depth - 2) // 6


def _stage(in_channels: int, out_channels: int, num_blocks: int, stride: int, last_relu: bool = True) -> nn.Sequential:
    blocks = [
        cifar_block(
            in_channels if i == 0 else out_channels,
            out_channels,
            stride if i == 0 else 1,
            relu_out=last_relu or i < num_blocks - 1,
        )
        for i in range(num_blocks)
    ]
    return nn.Sequential(*blocks)


def _stem(in_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, STAGE_CHANNELS[0], 3, stride=1, padding=1, bias=False),
        nn.BatchNorm2d(STAGE_CHANNELS[0]),
        nn.ReLU(inplace=True),
    )


def split_cifar_resnet(depth: int, in_channels: int = 3, last_relu: bool = True) -> SplitBackbone:
    """MEMO's split of ResNet-d: generalized = stem + stages 1–2, specialized = stage 3 + pool.

    `last_relu=False` drops the ReLU after the last block so features can be negative (LUCIR).
    """
    n = blocks_per_stage(depth)
    c1, c2, c3 = STAGE_CHANNELS
    generalized = nn.Sequential(
        OrderedDict(stem=_stem(in_channels), stage1=_stage(c1, c1, n, 1), stage2=_stage(c1, c2, n, 2))
    )
    he_init_(generalized)

    def make_specialized() -> nn.Module:
        specialized = nn.Sequential(OrderedDict(stage3=_stage(c2, c3, n, 2, last_relu), pool=GlobalAvgPool()))
        he_init_(specialized)
        return specialized

    return SplitBackbone(generalized, make_specialized, feature_dim=c3, generalized_channels=c2)
