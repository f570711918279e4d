"""Backbones by name: `build_backbone` and MEMO's `build_split_backbone`."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

from torch import nn

from retain.errors import ConfigError, closest_match, unknown_name
from retain.models.convnet import ConvNet, split_convnet2
from retain.models.mlp import MLP
from retain.models.options import require_bool, require_positive_int, require_widths
from retain.models.resnet18 import split_resnet18
from retain.models.resnet_cifar import split_cifar_resnet
from retain.models.split import ComposedBackbone, SplitBackbone

# Every builder takes (in_channels, image_size) and its options as keyword-only arguments;
# the keyword-only names are the options a user may set.


def _cifar_resnet(depth: int) -> Callable[..., SplitBackbone]:
    def build(in_channels: int, image_size: int, *, last_relu: bool = True) -> SplitBackbone:
        return split_cifar_resnet(depth, in_channels, last_relu=require_bool("last_relu", last_relu))

    return build


def _resnet18(default_nf: int, imagenet: bool) -> Callable[..., SplitBackbone]:
    def build(in_channels: int, image_size: int, *, nf: int = default_nf, last_relu: bool = True) -> SplitBackbone:
        nf = require_positive_int("nf", nf)
        return split_resnet18(in_channels, nf, imagenet=imagenet, last_relu=require_bool("last_relu", last_relu))

    return build


def _convnet2(in_channels: int, image_size: int) -> SplitBackbone:
    return split_convnet2(in_channels)


def _mlp(
    in_channels: int,
    image_size: int,
    *,
    hidden: Sequence[int] = (400, 400),
    batchnorm: bool = False,
    last_relu: bool = True,
) -> nn.Module:
    hidden = require_widths("hidden", hidden)
    return MLP(
        in_channels * image_size * image_size, hidden, require_bool("batchnorm", batchnorm), require_bool("last_relu", last_relu)
    )


def _convnet(
    in_channels: int, image_size: int, *, channels: Sequence[int] = (32, 64, 64), last_relu: bool = True
) -> nn.Module:
    channels = require_widths("channels", channels)
    if image_size < 2 ** len(channels):
        raise ConfigError(
            f"Backbone option 'channels' asks for {len(channels)} max-pooling blocks, which need images of at least "
            f"{2 ** len(channels)} pixels; the images are {image_size} pixels wide. Use fewer blocks."
        )
    return ConvNet(in_channels, channels, require_bool("last_relu", last_relu))


_SPLIT_BUILDERS: dict[str, Callable[..., SplitBackbone]] = {
    "resnet14": _cifar_resnet(14),
    "resnet20": _cifar_resnet(20),
    "resnet26": _cifar_resnet(26),
    "resnet32": _cifar_resnet(32),
    "resnet18": _resnet18(64, imagenet=False),
    "resnet18-reduced": _resnet18(20, imagenet=False),
    "resnet18-imagenet": _resnet18(64, imagenet=True),
    "convnet2": _convnet2,
}
_PLAIN_BUILDERS: dict[str, Callable[..., nn.Module]] = {"mlp": _mlp, "convnet": _convnet}

BACKBONE_NAMES: tuple[str, ...] = (*_SPLIT_BUILDERS, *_PLAIN_BUILDERS)
SPLIT_BACKBONE_NAMES: tuple[str, ...] = tuple(_SPLIT_BUILDERS)


def _call(name: str, builder: Callable[..., Any], in_channels: int, image_size: int, options: dict[str, Any]) -> Any:
    for field, value in (("in_channels", in_channels), ("image_size", image_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"Backbone {name!r} needs {field} to be a positive integer, got {value!r}.")
    parameters = inspect.signature(builder).parameters.values()
    allowed = [p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY]
    for option in options:
        if option not in allowed:
            known = ", ".join(allowed) if allowed else "none"
            suggestion = closest_match(option, allowed)
            hint = f" Did you mean {suggestion!r}?" if suggestion else ""
            raise ConfigError(
                f"Backbone {name!r} has no option {option!r} (model.options). Its options are: {known}.{hint}"
            )
    return builder(in_channels, image_size, **options)


def build_backbone(name: str, in_channels: int, image_size: int, **options: Any) -> nn.Module:
    """The backbone registered as `name` for square images of `in_channels` × `image_size`².

    The returned module maps (N, C, H, W) floats to (N, out_dim) features and has `.out_dim`.
    """
    if name in _SPLIT_BUILDERS:
        return ComposedBackbone(_call(name, _SPLIT_BUILDERS[name], in_channels, image_size, options))
    if name in _PLAIN_BUILDERS:
        return _call(name, _PLAIN_BUILDERS[name], in_channels, image_size, options)
    raise unknown_name("backbone", name, BACKBONE_NAMES, field="model.backbone")


def build_split_backbone(name: str, in_channels: int = 3, image_size: int = 32, **options: Any) -> SplitBackbone:
    """The backbone `name` cut into MEMO's generalized part and a specialized-block factory."""
    if name in _SPLIT_BUILDERS:
        return _call(name, _SPLIT_BUILDERS[name], in_channels, image_size, options)
    if name in _PLAIN_BUILDERS:
        raise ConfigError(
            f"Backbone {name!r} (model.backbone) cannot be split into generalized and specialized blocks, "
            f"which MEMO needs. Splittable backbones: {', '.join(SPLIT_BACKBONE_NAMES)}."
        )
    raise unknown_name("backbone", name, SPLIT_BACKBONE_NAMES, field="model.backbone")
