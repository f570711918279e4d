"""Memory policies by name (`memory.policy`) and the contract they follow."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

import torch

from retain.registry import Registry


class MemoryPolicy:
    """Decides what enters the memory and what leaves.

    A *selection* policy (`streaming = False`) ranks one class's candidates at task end with
    `order`; the memory keeps each class's first m. A *streaming* policy (`streaming = True`)
    places a batch into a fixed number of slots during training with `assign`. New policies
    subclass this and register with `@register_policy("name")` in their own file under
    `retain/memory/policies/`.
    """

    name: ClassVar[str] = ""
    streaming: ClassVar[bool] = False
    needs_features: ClassVar[bool] = False

    def order(
        self, count: int, generator: torch.Generator | None, features: torch.Tensor | None = None, limit: int | None = None
    ) -> torch.Tensor:
        """Priority order of `count` candidates (at least min(limit, count) entries)."""
        raise NotImplementedError(f"memory policy {self.name!r} does not rank candidates at task end")

    def assign(
        self,
        num_seen: int,
        batch_labels: torch.Tensor,
        store_labels: torch.Tensor,
        capacity: int,
        generator: torch.Generator | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(batch positions, slots) written when a batch arrives; slots lie in 0..capacity-1."""
        raise NotImplementedError(f"memory policy {self.name!r} does not insert during training")


_POLICIES: Registry[type[MemoryPolicy]] = Registry("memory policy", "memory.policy")
P = TypeVar("P", bound=type[MemoryPolicy])


def register_policy(name: str) -> Callable[[P], P]:
    """Class decorator: make a `MemoryPolicy` subclass available as `memory.policy: name`.

    A selection policy (`streaming = False`) implements `order`; a streaming one (`streaming =
    True`) implements `assign`. Registering another class under a taken name is an error; the
    same class defined again (its file imported a second time) replaces the first.
    """

    def decorate(cls: P) -> P:
        _POLICIES.add(name, cls)
        cls.name = name
        return cls

    return decorate


def policy_names() -> list[str]:
    """Every registered memory policy (built-in and plugin), sorted."""
    return sorted(_POLICIES)


def policy_class(name: str) -> type[MemoryPolicy]:
    """The class registered as `name`; unknown names raise a ConfigError naming memory.policy."""
    return _POLICIES.get(name)


def build_policy(name: str, **options: Any) -> MemoryPolicy:
    """The policy registered under `name`; unknown names raise a ConfigError naming memory.policy."""
    return policy_class(name)(**options)
