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
from typing import Any, TypeVar

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
        raise unknown_name("backbone", str(name), _BACKBONES, field=field)


def _call(entry: BackboneEntry, in_channels: int, image_size: int, options: dict[str, Any]) -> Any:
    for field, value in (("in_channels", in_channels), ("image_size", image_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"Backbone {entry.name!r} needs {field} to be a positive integer, got {value!r}.")
    check_options("Backbone", entry.name, entry.builder, options, "model.options")
    return entry.builder(in_channels, image_size, **options)


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
    return module


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
