"""Declarative method state: a method names its persistent attributes once (`persist`), and the
checkpoint's `state_dict` / `load_state_dict` are derived from that list.

A hand-written `state_dict` that forgets a field breaks bit-exact resume silently; a declaration
cannot drift from the save and load code because there is none to write. What the declaration
misses is caught by tests/methods/test_method_state.py, which compares every attribute of a method
restored from a checkpoint with the method that wrote it (`transient` names what is not state).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch

from retain.errors import CheckpointError


def declared(cls: type, attribute: str) -> tuple[str, ...]:
    """The names a class and its bases list under the class attribute `attribute` (bases first)."""
    names: list[str] = []
    for base in reversed(cls.__mro__):
        for name in vars(base).get(attribute, ()):
            if name not in names:
                names.append(name)
    return tuple(names)


def save_value(value: Any) -> Any:
    """A checkpoint-safe copy of one attribute (loadable with torch.load(weights_only=True))."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().clone()
    if isinstance(value, torch.Generator):
        return value.get_state()
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value.copy())
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if hasattr(value, "state_dict"):
        return value.state_dict()
    return copy.deepcopy(value)


def restore_value(current: Any, saved: Any, device: torch.device) -> Any:
    """The attribute's new value from `saved`, shaped like the attribute it replaces (a tensor
    replacing None goes to the run's device)."""
    if isinstance(current, torch.Tensor):
        return saved.to(current.device)
    if current is None and isinstance(saved, torch.Tensor):
        return saved.to(device)
    if isinstance(current, torch.Generator):
        current.set_state(saved)
        return current
    if isinstance(current, np.ndarray):
        return saved.numpy().copy()
    if isinstance(current, (set, frozenset)):
        return type(current)(saved)
    if hasattr(current, "load_state_dict"):
        current.load_state_dict(saved)
        return current
    return copy.deepcopy(saved)


def save_attributes(owner: Any, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: save_value(getattr(owner, name)) for name in names}


def restore_attributes(owner: Any, names: tuple[str, ...], state: dict[str, Any], device: torch.device) -> None:
    missing = [name for name in names if name not in state]
    if missing:
        raise CheckpointError(
            f"The checkpoint's state of {type(owner).__name__} has no {', '.join(missing)}: it was written by a "
            "version of retain whose method kept other state. Resume it with that version, or start the run again.")
    for name in names:
        setattr(owner, name, restore_value(getattr(owner, name), state[name], device))
