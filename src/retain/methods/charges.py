"""What the ledger charges a method after a task: the items it declares (`ledger_items`), its frozen
teacher under `memory.charge_teacher`, and the state a user's method keeps but declares nowhere.

A teacher is the module in the method's `teacher` attribute (`frozen_copy(self.network)`, as the
built-in iCaRL and LUCIR and the LwF example keep it); with `memory.charge_teacher: true` its
parameters are charged as the `teacher` item unless the method charges one itself.

A method defined outside retain (a plugin) is checked for undeclared state: the tensors its
`state_dict` holds under keys its nearest built-in base class does not write (the network, the
exemplar store and `teacher` excluded) must be covered by the ledger items it adds to that
base's; bytes beyond them are charged as an `undeclared state (<keys>)` item, so class means or
statistics a plugin keeps count against the budget whether or not it says so. Built-in methods
declare their items by specification (docs/extending.md, spec/methods.md).
"""

from __future__ import annotations

from typing import Any

import torch

from retain.methods.base import Method

BUILTIN_PREFIX = "retain.methods."


def teacher_bytes(method: Method) -> int:
    """Bytes of the parameters of the method's `teacher` module (0 without one)."""
    teacher = getattr(method, "teacher", None)
    if not isinstance(teacher, torch.nn.Module):
        return 0
    return sum(p.numel() * p.element_size() for p in teacher.parameters())


def tensor_bytes(value: Any) -> int:
    """Bytes of every tensor in a (nested) state value."""
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, dict):
        return sum(tensor_bytes(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(tensor_bytes(v) for v in value)
    return 0


def _builtin_base(cls: type) -> type:
    return next(c for c in cls.__mro__ if c.__module__.startswith(BUILTIN_PREFIX) or c is Method)


def _declared_beyond(method: Method, base: type) -> int:
    """Bytes of the ledger items the method adds to its built-in base's (through `ledger_items`
    or `extra_ledger_items`, the exemplar methods' hook)."""
    added = sum(method.ledger_items().values()) - sum(base.ledger_items(method).values())
    if hasattr(base, "extra_ledger_items"):
        added = max(added, sum(method.extra_ledger_items().values()) - sum(base.extra_ledger_items(method).values()))
    return max(0, added)


def undeclared_state(method: Method) -> tuple[int, list[str]]:
    """(bytes, keys): a plugin's state tensors beyond its built-in base and beyond its declared items."""
    cls = type(method)
    if cls.__module__.startswith(BUILTIN_PREFIX):
        return 0, []
    base = _builtin_base(cls)
    state, inherited = method.state_dict(), base.state_dict(method)
    keys = [k for k in state if k not in inherited and k != "teacher" and tensor_bytes(state[k])]
    extra = sum(tensor_bytes(state[k]) for k in keys) - _declared_beyond(method, base)
    return (extra, keys) if extra > 0 else (0, [])


def charged_items(method: Method, charge_teacher: bool) -> dict[str, int]:
    """The ledger items of one task: declared, teacher (when charged), undeclared state."""
    items = dict(method.ledger_items())
    if charge_teacher and "teacher" not in items and teacher_bytes(method):
        items["teacher"] = teacher_bytes(method)
    extra, keys = undeclared_state(method)
    if extra:
        items[f"undeclared state ({', '.join(keys)})"] = extra
    return items
