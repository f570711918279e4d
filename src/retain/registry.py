"""Registries by name: the one door through which built-in and user code add methods, policies, backbones and datasets.

Ground floor: each room keeps its own `Registry` (methods, memory policies, backbones, dataset
sources) and every room shares the same rules. Registering a different object under a taken
name is an error; the same definition registered again (its file imported a second time, for
instance once by path and once as an installed module) replaces the first.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterator
from typing import Any, Generic, TypeVar

from retain.errors import unknown_name, warn_renamed

T = TypeVar("T")


def same_definition(old: Any, new: Any) -> bool:
    """True when `new` is `old`, or the same class or function defined again: same qualified name
    and the same file or the same source text (a plugin file imported by path and an installed
    copy of it as a module)."""
    if old is new:
        return True
    if getattr(old, "__qualname__", None) != getattr(new, "__qualname__", None):
        return False
    old_file, new_file = _defining_file(old), _defining_file(new)
    if old_file is not None and old_file == new_file:
        return True
    old_source, new_source = _source(old), _source(new)
    return old_source is not None and old_source == new_source


def _defining_file(obj: Any) -> str | None:
    try:
        return os.path.realpath(inspect.getfile(obj))
    except (TypeError, OSError):
        return None


def _source(obj: Any) -> str | None:
    try:
        return inspect.getsource(obj)
    except (TypeError, OSError):
        return None


class Registry(Generic[T]):
    """Named entries of one kind (`kind`, e.g. "method"), chosen by the config field `field`."""

    def __init__(self, kind: str, field: str) -> None:
        self.kind = kind
        self.field = field
        self._entries: dict[str, T] = {}
        self._definitions: dict[str, Any] = {}
        self._aliases: dict[str, str] = {}  # a former name -> the name it is registered under now

    def add(self, name: str, entry: T, definition: Any = None) -> None:
        """Register `entry` as `name`; `definition` (default: the entry) is what identifies it on re-registration."""
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"a {self.kind} name must be a non-empty string, got {name!r}")
        definition = entry if definition is None else definition
        if name in self._definitions:
            old = self._definitions[name]
            if not same_definition(old, definition):
                where = f"{getattr(old, '__module__', '?')}.{getattr(old, '__qualname__', old)!s}"
                raise ValueError(f"{self.kind} {name!r} is already registered (by {where}); choose another name")
        self._entries[name] = entry
        self._definitions[name] = definition

    def add_alias(self, old: str, new: str) -> None:
        """Accept `old`, a former name of the entry `new`: `canonical` and `get` say it moved and use `new`."""
        if old in self._entries or self._aliases.get(old, new) != new:
            raise ValueError(f"{self.kind} {old!r} is already a name; it cannot become an alias of {new!r}")
        self._aliases[old] = new

    def canonical(self, name: str) -> str:
        """`name` as registered now: a former name (an alias) gives the current one, with a RetainDeprecationWarning."""
        if name in self._aliases and name not in self._entries:
            new = self._aliases[name]
            warn_renamed(f"{self.field}={name!r}", f"{self.field}={new!r}")
            return new
        return name

    def aliases(self) -> dict[str, list[str]]:
        """Former names by the current name they stand for."""
        out: dict[str, list[str]] = {}
        for old, new in self._aliases.items():
            out.setdefault(new, []).append(old)
        return out

    def get(self, name: str) -> T:
        """The entry registered as `name` (or under a former name of it, with a warning); an unknown
        name raises a ConfigError naming the field and the closest name."""
        name = self.canonical(name) if isinstance(name, str) else name
        if name not in self._entries:
            raise unknown_name(self.kind, str(name), self._entries, field=self.field, pluggable=True)
        return self._entries[name]

    def names(self) -> list[str]:
        """Registered names in registration order."""
        return list(self._entries)

    def items(self) -> list[tuple[str, T]]:
        """(name, entry) pairs in registration order."""
        return list(self._entries.items())

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)
