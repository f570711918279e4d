"""Small building blocks shared by the backbones."""

from __future__ import annotations

import math

import torch
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
