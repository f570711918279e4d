"""ResNet-18/34: the CIFAR variant (3×3 stem, no max-pool; mammoth/GEM, `nf` = width of stage 1)
and the ImageNet variant (7×7 stride-2 stem + max-pool, the torchvision layout)."""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from retain.models.layers import BasicBlock, GlobalAvgPool, he_init_
from retain.models.split import SplitBackbone


def projection_shortcut(in_channels: int, out_channels: int, stride: int) -> nn.Module:
    """1×1 conv + BN when the shape changes (ResNet-18's option B)."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False), nn.BatchNorm2d(out_channels))


def resnet18_block(in_channels: int, out_channels: int, stride: int = 1, relu_out: bool = True) -> BasicBlock:
    """A ResNet-18 basic block (projection shortcut)."""
    return BasicBlock(in_channels, out_channels, stride, relu_out, projection_shortcut)


RESNET18_BLOCKS = (2, 2, 2, 2)
RESNET34_BLOCKS = (3, 4, 6, 3)


def _layer(in_channels: int, out_channels: int, stride: int, last_relu: bool = True, blocks: int = 2) -> nn.Sequential:
    first = [resnet18_block(in_channels, out_channels, stride, relu_out=last_relu or blocks > 1)]
    rest = [resnet18_block(out_channels, out_channels, 1, relu_out=last_relu or i < blocks - 2) for i in range(blocks - 1)]
    return nn.Sequential(*first, *rest)


def _stem(in_channels: int, nf: int, imagenet: bool) -> nn.Sequential:
    if not imagenet:
        return nn.Sequential(
            nn.Conv2d(in_channels, nf, 3, stride=1, padding=1, bias=False),
            nn.BatchNorm2d(nf),
            nn.ReLU(inplace=True),
        )
    return nn.Sequential(
        nn.Conv2d(in_channels, nf, 7, stride=2, padding=3, bias=False),
        nn.BatchNorm2d(nf),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(3, stride=2, padding=1),
    )


def split_resnet18(in_channels: int = 3, nf: int = 64, imagenet: bool = False, last_relu: bool = True,
                   blocks: tuple[int, int, int, int] = RESNET18_BLOCKS) -> SplitBackbone:
    """ResNet-18 (or, with `blocks=RESNET34_BLOCKS`, ResNet-34) cut as in MEMO's ImageNet model:
    generalized = stem + layer1..3, specialized = layer4 + global pool (8·nf-d).

    The ImageNet variant gets He initialisation (torchvision); the CIFAR variant keeps
    PyTorch's default initialisation, as mammoth's ResNet-18 does.
    """
    generalized = nn.Sequential(
        OrderedDict(
            stem=_stem(in_channels, nf, imagenet),
            layer1=_layer(nf, nf, 1, blocks=blocks[0]),
            layer2=_layer(nf, 2 * nf, 2, blocks=blocks[1]),
            layer3=_layer(2 * nf, 4 * nf, 2, blocks=blocks[2]),
        )
    )
    if imagenet:
        he_init_(generalized)

    def make_specialized() -> nn.Module:
        layer4 = _layer(4 * nf, 8 * nf, 2, last_relu, blocks=blocks[3])
        specialized = nn.Sequential(OrderedDict(layer4=layer4, pool=GlobalAvgPool()))
        if imagenet:
            he_init_(specialized)
        return specialized

    return SplitBackbone(generalized, make_specialized, feature_dim=8 * nf, generalized_channels=4 * nf)
