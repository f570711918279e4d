"""The training device named by a config or an option, checked to exist on this machine."""

from __future__ import annotations

import torch

from retain.errors import ConfigError


def resolve_device(name: str, field: str = "device") -> torch.device:
    """The requested device, or a ConfigError naming `field` when it is no device name or absent here.

    `auto` is the first GPU when CUDA is available, else the CPU (a distributed run gives each
    rank its own GPU instead: engine/collectives.py)."""
    if name == "auto":
        return torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")
    device = check_device_name(name, field)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"`{field}` = {name!r} but no CUDA device is available on this machine; use {field}=cpu.")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ConfigError(f"`{field}` = {name!r} but this machine has {torch.cuda.device_count()} CUDA device(s).")
    return device


def check_device_name(name: str, field: str = "device") -> torch.device | None:
    """The device `name` names (None for `auto`), or a ConfigError naming `field`; whether it
    exists on this machine is `resolve_device`'s check, made when the run starts."""
    if name == "auto":
        return None
    try:
        return torch.device(name)
    except (RuntimeError, TypeError):
        raise ConfigError(f"`{field}` = {name!r} is not a device name; use cpu, cuda, cuda:N or auto.") from None
