"""What the ledger charges a method after a task: the items it declares (`ledger_items`), its frozen
teacher under `memory.charge_teacher`, and the state a method keeps but declares nowhere.

A teacher is the module in the method's `teacher` attribute (`frozen_copy(self.network)`, as the
built-in iCaRL and LUCIR and the LwF example keep it); with `memory.charge_teacher: true` its
parameters are charged as the `teacher` item unless the method charges one itself.

Every method, built-in or a plugin, is checked for undeclared state: each entry of its
`state_dict` that holds tensors, besides the network and the teachers, must be declared by the
method or a base class, as charged (`charged_state`: the ledger items that charge it) or free
(`free_state`: why it is not charged, e.g. statistics the papers' budgets leave out). The bytes
of the entries declared nowhere, beyond the ledger items a plugin adds to its nearest built-in
base's, are charged as an `undeclared state (<keys>)` item: class means or statistics a method
keeps count against the budget whether or not it says so (docs/extending.md).
"""

from __future__ import annotations

from typing import Any

import torch

from retain.methods.base import Method
from retain.methods.state import declared

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


def state_declarations(cls: type) -> tuple[dict[str, tuple[str, ...]], dict[str, str]]:
    """(charged_state, free_state) of a method class, its bases' included (a subclass's entry wins)."""
    charged: dict[str, tuple[str, ...]] = {}
    free: dict[str, str] = {}
    for base in reversed(cls.__mro__):
        charged.update(vars(base).get("charged_state", {}))
        free.update(vars(base).get("free_state", {}))
    return charged, free


def declared_entries(cls: type) -> set[str]:
    """The state entries the ledger knows: the network, the teachers, the declared ones."""
    charged, free = state_declarations(cls)
    return {"network", "teacher", *declared(cls, "teachers"), *charged, *free}


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
    """(bytes, keys): the method's state tensors under entries declared nowhere, beyond the ledger
    items a plugin adds to its built-in base's (a built-in adds none: its base is itself)."""
    cls = type(method)
    state, known = method.state_dict(), declared_entries(cls)
    keys = [k for k in state if k not in known and tensor_bytes(state[k])]
    if not keys:
        return 0, []
    extra = sum(tensor_bytes(state[k]) for k in keys) - _declared_beyond(method, _builtin_base(cls))
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
