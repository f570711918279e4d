"""Backbones by name: `register_backbone`, `build_backbone` and MEMO's `build_split_backbone`.

A backbone is registered as a builder `(in_channels, image_size, *, option=default, ...)`; its
keyword-only parameters are the options a user may set in `model.options`. A plain builder
returns an `nn.Module` mapping (N, C, H, W) floats to (N, out_dim) features with `.out_dim`;
a *split* builder (`split=True`) returns a `SplitBackbone` (MEMO's generalized blocks plus a
specialized-block factory), which also serves as a plain backbone. The built-in backbones
register through the same door as a user's (`retain.register_backbone`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
import re
from typing import Any, TypeVar

import torch
from torch import nn

from retain.config.options import check_options
from retain.errors import ConfigError, unknown_name
from retain.registry import Registry
from retain.models.split import ComposedBackbone, SplitBackbone

B = TypeVar("B", bound=Callable[..., Any])


@dataclass(frozen=True)
class BackboneEntry:
    """A registered backbone: its builder and whether it returns a `SplitBackbone`."""

    name: str
    builder: Callable[..., Any]
    split: bool


_BACKBONES: Registry[BackboneEntry] = Registry("backbone", "model.backbone")


def register_backbone(name: str, *, split: bool = False) -> Callable[[B], B]:
    """Decorator: make a backbone builder available as `model.backbone: name`.

    The builder is called as `builder(in_channels, image_size, **model.options)` (square images
    of `image_size` pixels); its keyword-only parameters are its options. With `split=True` it
    returns a `SplitBackbone`, which MEMO can expand; otherwise an `nn.Module` with `.out_dim`.
    Registering another builder under a taken name is an error.
    """

    def decorate(builder: B) -> B:
        _BACKBONES.add(name, BackboneEntry(name, builder, split), definition=builder)
        return builder

    return decorate


def backbone_names() -> list[str]:
    """Every registered backbone name (built-in and plugin), sorted."""
    return sorted(_BACKBONES)


def backbone_builder(name: str) -> Callable[..., Any]:
    """The builder registered as `name` (its docstring is what `retain list backbones` shows)."""
    return _BACKBONES.get(name).builder


def split_backbone_names() -> list[str]:
    """The registered backbones that MEMO can split into generalized and specialized blocks, sorted."""
    return sorted(name for name, entry in _BACKBONES.items() if entry.split)


def is_split_backbone(name: str) -> bool:
    """True when `name` is registered with `split=True`."""
    return name in _BACKBONES and _BACKBONES.get(name).split


def check_backbone_name(name: str, field: str = "model.backbone") -> None:
    """ConfigError naming `field` (the config field that holds `name`) when `name` is not a registered backbone."""
    if name not in _BACKBONES:
        raise unknown_name("backbone", str(name), _BACKBONES, field=field, pluggable=True)


def _call(entry: BackboneEntry, in_channels: int, image_size: int, options: dict[str, Any]) -> Any:
    for field, value in (("in_channels", in_channels), ("image_size", image_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"Backbone {entry.name!r} needs {field} to be a positive integer, got {value!r}.")
    check_options("Backbone", entry.name, entry.builder, options, "model.options")
    try:
        return entry.builder(in_channels, image_size, **options)
    except RuntimeError as exc:  # torch's allocators: a size the options asked for that memory cannot hold
        asked = re.search(r"allocate (?:memory: you tried to allocate )?(\d+) bytes", str(exc))
        if asked is None and "out of memory" not in str(exc).lower():
            raise
        size = f"{int(asked.group(1)):,} bytes" if asked else "more memory than is free"
        raise ConfigError(
            f"Backbone {entry.name!r} (model.backbone) cannot be built with model.options {options!r}: one of its "
            f"tensors asked for {size}, which this machine cannot allocate. Choose smaller sizes in model.options "
            f"(the builder's defaults: `retain list backbones`)."
        ) from None


def build_backbone(name: str, in_channels: int, image_size: int, **options: Any) -> nn.Module:
    """The backbone registered as `name` for square images of `in_channels` × `image_size`².

    The returned module maps (N, C, H, W) floats to (N, out_dim) features and has `.out_dim`.
    """
    entry = _BACKBONES.get(name)
    built = _call(entry, in_channels, image_size, options)
    module = ComposedBackbone(built) if entry.split else built
    if not isinstance(module, nn.Module) or not isinstance(getattr(module, "out_dim", None), int):
        raise ConfigError(
            f"Backbone {name!r} (model.backbone) was built as {type(module).__name__}, which is not an nn.Module "
            "with an integer `out_dim`; a backbone builder must return one (or a SplitBackbone with split=True)."
        )
    key = (name, in_channels, image_size, repr(sorted(options.items())))
    if key not in _PROBED:  # once per process and shape: the builder's width does not change between builds
        check_width(name, module, in_channels, image_size)
        _PROBED.add(key)
    return module


_PROBED: set[tuple[str, int, int, str]] = set()


def check_width(name: str, module: nn.Module, in_channels: int, image_size: int) -> None:
    """The backbone's features on a tiny batch of the dataset's shape have `out_dim` columns (a plugin
    that declares another width would fail at the head's first matrix product, after the run started).
    Eval mode, no grad, zeros: no running statistic, parameter or random state changes."""
    param = next(module.parameters(), None)
    probe = torch.zeros(2, in_channels, image_size, image_size, device=param.device if param is not None else "cpu")
    training = module.training
    try:
        module.eval()
        with torch.no_grad():
            features = module(probe)
    except Exception as exc:
        raise ConfigError(
            f"Backbone {name!r} (model.backbone) fails on a batch of {in_channels}x{image_size}x{image_size} images "
            f"(the dataset's shape): {type(exc).__name__}: {str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ''}. "
            "Its forward must map (N, C, H, W) images to (N, out_dim) features."
        ) from None
    finally:
        module.train(training)
    shape = tuple(features.shape) if isinstance(features, torch.Tensor) else None
    if shape is None or len(shape) != 2 or shape[0] != 2 or shape[1] != module.out_dim:
        got = f"features of shape {shape}" if shape is not None else f"a {type(features).__name__}"
        raise ConfigError(
            f"Backbone {name!r} (model.backbone) declares out_dim={module.out_dim} but its forward returns {got} for "
            f"2 images of {in_channels}x{image_size}x{image_size} (measured width "
            f"{shape[-1] if shape else 'none'}); the classifier head is sized by out_dim. Set `self.out_dim` to the "
            "width forward returns (N, out_dim), or flatten the features."
        )


def build_split_backbone(name: str, in_channels: int = 3, image_size: int = 32, **options: Any) -> SplitBackbone:
    """The backbone `name` cut into MEMO's generalized part and a specialized-block factory."""
    if name in _BACKBONES and not _BACKBONES.get(name).split:
        raise ConfigError(
            f"Backbone {name!r} (model.backbone) cannot be split into generalized and specialized blocks, "
            f"which MEMO needs. Splittable backbones: {', '.join(split_backbone_names())}."
        )
    if name not in _BACKBONES:
        raise unknown_name("backbone", name, split_backbone_names(), field="model.backbone")
    return _call(_BACKBONES.get(name), in_channels, image_size, options)
