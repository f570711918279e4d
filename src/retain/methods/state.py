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


_PLAIN = (type(None), bool, int, float, str, bytes)


def save_value(value: Any, name: str = "") -> Any:
    """A checkpoint-safe copy of one attribute: what torch.load(weights_only=True) reads back
    (tensors, plain values, and lists/tuples/dicts of them); anything else is a TypeError that
    names the attribute, at the first checkpoint rather than at the resume."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().clone()
    if isinstance(value, torch.Generator):
        return value.get_state()
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            raise TypeError(f"persisted attribute {name!r} is a numpy array of Python objects; store numbers")
        return torch.from_numpy(value.copy())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, (list, tuple)):
        return type(value)(save_value(item, f"{name}[{i}]") for i, item in enumerate(value))
    if isinstance(value, dict):
        return {key: save_value(item, f"{name}[{key!r}]") for key, item in value.items()}
    if hasattr(value, "state_dict"):
        return value.state_dict()
    raise TypeError(
        f"persisted attribute {name!r} is a {type(value).__name__}, which a checkpoint cannot hold; persist "
        "tensors, numpy arrays, numbers, strings, lists/tuples/dicts/sets of them, generators, or objects with "
        "state_dict/load_state_dict.")


def restore_value(current: Any, saved: Any, device: torch.device) -> Any:
    """The attribute's new value from `saved`, shaped like the attribute it replaces: tensors on
    the current tensor's device (a tensor replacing None, or inside a list/dict: the run's device),
    always a copy, so the loaded checkpoint is never written through."""
    if isinstance(current, torch.Tensor):
        return saved.to(current.device, copy=True)
    if isinstance(current, torch.Generator):
        current.set_state(saved)
        return current
    if isinstance(current, np.ndarray):
        return saved.numpy().copy()
    if isinstance(current, (set, frozenset)):
        return type(current)(saved)
    if hasattr(current, "load_state_dict"):
        if saved is None:
            raise CheckpointError(f"the checkpoint holds no state for the {type(current).__name__} this method keeps")
        current.load_state_dict(saved)
        return current.to(device) if isinstance(current, torch.nn.Module) else current  # BiC's bias layers
    return _on_device(saved, device)


def _on_device(saved: Any, device: torch.device) -> Any:
    if isinstance(saved, torch.Tensor):
        return saved.to(device, copy=True)
    if isinstance(saved, (list, tuple)):
        return type(saved)(_on_device(item, device) for item in saved)
    if isinstance(saved, dict):
        return {key: _on_device(item, device) for key, item in saved.items()}
    return copy.deepcopy(saved)


def save_attributes(owner: Any, names: tuple[str, ...]) -> dict[str, Any]:
    """The declared attributes of `owner` (each must exist from `__init__` on; None is a value)."""
    return {name: save_value(getattr(owner, name), f"{type(owner).__name__}.{name}") for name in names}


def restore_attributes(owner: Any, names: tuple[str, ...], state: dict[str, Any], device: torch.device) -> None:
    missing = [name for name in names if name not in state]
    if missing:
        raise CheckpointError(
            f"The checkpoint's state of {type(owner).__name__} has no {', '.join(missing)}: it was written by a "
            "version of retain whose method kept other state. Resume it with that version, or start the run again.")
    for name in names:
        setattr(owner, name, restore_value(getattr(owner, name), state[name], device))
