"""Small building blocks shared by the backbones."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn


class GlobalAvgPool(nn.Module):
    """Average over all spatial positions and flatten to (N, C).

    Adaptive rather than a fixed AvgPool(8), so a 28×28 input pools as well as a 32×32 one.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))


def he_init_(module: nn.Module) -> None:
    """He initialisation used by the CIFAR ResNets and the ImageNet ResNet-18.

    Conv weights ~ Normal(0, sqrt(2 / (k·k·out_channels))), BatchNorm weight 1 and bias 0.
    """
    for layer in module.modules():
        if isinstance(layer, nn.Conv2d):
            fan_out = layer.kernel_size[0] * layer.kernel_size[1] * layer.out_channels
            nn.init.normal_(layer.weight, mean=0.0, std=math.sqrt(2.0 / fan_out))
        elif isinstance(layer, nn.BatchNorm2d):
            nn.init.ones_(layer.weight)
            nn.init.zeros_(layer.bias)


ShortcutFactory = Callable[[int, int, int], nn.Module]  # (in_channels, out_channels, stride) -> module


class BasicBlock(nn.Module):
    """conv-BN-ReLU-conv-BN + shortcut, then ReLU unless `relu_out` is False (LUCIR's last block).

    `make_shortcut` builds the shortcut when the shape changes: option A (parameter-free) for
    the CIFAR ResNets, a 1×1 conv + BN projection for ResNet-18; identity otherwise.
    """

    def __init__(
        self, in_channels: int, out_channels: int, stride: int, relu_out: bool, make_shortcut: ShortcutFactory
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        needs_shortcut = stride != 1 or in_channels != out_channels
        self.shortcut = make_shortcut(in_channels, out_channels, stride) if needs_shortcut else nn.Identity()
        self.relu_out = relu_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out)) + self.shortcut(x)
        return F.relu(out) if self.relu_out else out
