"""The training device named by a config or an option, checked to exist on this machine."""

from __future__ import annotations

import torch

from retain.errors import ConfigError


def resolve_device(name: str, field: str = "device") -> torch.device:
    """The requested device, or a ConfigError naming `field` when it is no device name or absent here."""
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise ConfigError(f"`{field}` = {name!r} is not a device name; use cpu, cuda or cuda:N.") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"`{field}` = {name!r} but no CUDA device is available on this machine; use {field}=cpu.")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ConfigError(f"`{field}` = {name!r} but this machine has {torch.cuda.device_count()} CUDA device(s).")
    return device
