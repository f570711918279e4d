"""The built-in backbones, registered through the public door (`register_backbone`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import nn

from retain.errors import ConfigError
from retain.models.convnet import ConvNet, split_convnet2
from retain.models.mlp import MLP
from retain.models.options import require_bool, require_positive_float, require_positive_int, require_widths
from retain.models.registry import register_backbone
from retain.models.resnet18 import RESNET18_BLOCKS, RESNET34_BLOCKS, split_resnet18
from retain.models.resnet_cifar import split_cifar_resnet
from retain.models.split import SplitBackbone


def _cifar_resnet(depth: int) -> Callable[..., SplitBackbone]:
    def build(in_channels: int, image_size: int, *, last_relu: bool = True) -> SplitBackbone:
        return split_cifar_resnet(depth, in_channels, last_relu=require_bool("last_relu", last_relu))

    build.__qualname__ = f"cifar_resnet{depth}"
    build.__doc__ = (f"CIFAR ResNet-{depth} (3 stages of {(depth - 2) // 6} basic blocks, 16/32/64 channels), "
                     "split after the second stage as MEMO does.")
    return build


def _resnet18(default_nf: int, imagenet: bool, depth: int = 18) -> Callable[..., SplitBackbone]:
    blocks = RESNET34_BLOCKS if depth == 34 else RESNET18_BLOCKS

    def build(in_channels: int, image_size: int, *, nf: int = default_nf, last_relu: bool = True) -> SplitBackbone:
        nf = require_positive_int("nf", nf)
        return split_resnet18(in_channels, nf, imagenet=imagenet, last_relu=require_bool("last_relu", last_relu), blocks=blocks)

    build.__qualname__ = f"resnet{depth}_nf{default_nf}_{'imagenet' if imagenet else 'cifar'}"
    stem = "7×7 stride-2 stem and max-pool (ImageNet)" if imagenet else "3×3 stem without max-pool (CIFAR)"
    layout = "" if depth == 18 else f" ({'/'.join(map(str, blocks))} basic blocks per stage)"
    build.__doc__ = f"ResNet-{depth}{layout} with {default_nf} base channels (`nf`), {stem}, split after the third stage."
    return build


for _depth in (14, 20, 26, 32):
    register_backbone(f"resnet{_depth}", split=True)(_cifar_resnet(_depth))
register_backbone("resnet18", split=True)(_resnet18(64, imagenet=False))
register_backbone("resnet18-reduced", split=True)(_resnet18(20, imagenet=False))
register_backbone("resnet18-imagenet", split=True)(_resnet18(64, imagenet=True))
register_backbone("resnet34-imagenet", split=True)(_resnet18(64, imagenet=True, depth=34))


@register_backbone("convnet2", split=True)
def convnet2(in_channels: int, image_size: int) -> SplitBackbone:
    """Two conv blocks (MEMO's small ConvNet), split after the first."""
    return split_convnet2(in_channels)


@register_backbone("mlp")
def mlp(
    in_channels: int,
    image_size: int,
    *,
    hidden: Sequence[int] = (400, 400),
    batchnorm: bool = False,
    last_relu: bool = True,
    bias: bool = True,
    bn_eps: float = 1e-5,
) -> nn.Module:
    """A multilayer perceptron over the flattened image (`bias: false` and `bn_eps` give Rainbow Memory's layers)."""
    hidden = require_widths("hidden", hidden)
    bias, batchnorm = require_bool("bias", bias), require_bool("batchnorm", batchnorm)
    bn_eps = require_positive_float("bn_eps", bn_eps)
    if bn_eps != 1e-5 and not batchnorm:
        raise ConfigError(f"Backbone option 'bn_eps' (model.options.bn_eps) is {bn_eps!r}, but the MLP has no BatchNorm "
                          "(model.options.batchnorm is false), so it would have no effect. Set batchnorm: true or remove bn_eps.")
    return MLP(
        in_channels * image_size * image_size, hidden, batchnorm, require_bool("last_relu", last_relu), bias, bn_eps
    )


@register_backbone("convnet")
def convnet(
    in_channels: int, image_size: int, *, channels: Sequence[int] = (32, 64, 64), last_relu: bool = True
) -> nn.Module:
    """Conv-BN-ReLU-maxpool blocks, one per entry of `channels`, then global average pooling."""
    channels = require_widths("channels", channels)
    if image_size < 2 ** len(channels):
        raise ConfigError(
            f"Backbone option 'channels' asks for {len(channels)} max-pooling blocks, which need images of at least "
            f"{2 ** len(channels)} pixels; the images are {image_size} pixels wide. Use fewer blocks."
        )
    return ConvNet(in_channels, channels, require_bool("last_relu", last_relu))
