"""Memory policies by name (`memory.policy`) and the contract they follow."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

import torch

from retain.errors import MethodError
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
    # The most candidates `order` ranks per class (None: all asked); a class then keeps fewer rows
    # than the memory has room for, as the recipe the policy reproduces does.
    rank_cap: int | None = None

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
        if "order" in cls.__dict__ and not getattr(cls.__dict__["order"], "_checked", False):
            cls.order = _checked_order(cls.__dict__["order"])
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


def _checked_order(order: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    """`order` whose result is checked (`check_order`): a policy's ranking decides which rows the
    memory keeps, so a repeated or out-of-range index would store a row twice or fail deep inside."""

    def checked(self: MemoryPolicy, count: int, generator: torch.Generator | None, *args: Any, **kwargs: Any) -> torch.Tensor:
        result = order(self, count, generator, *args, **kwargs)
        limit = kwargs.get("limit", args[1] if len(args) > 1 else None)
        check_order(self, result, count, limit)
        return result

    checked._checked = True  # type: ignore[attr-defined]
    checked.__doc__, checked.__name__, checked.__wrapped__ = order.__doc__, order.__name__, order  # type: ignore[attr-defined]
    return checked


def check_order(policy: MemoryPolicy, result: object, count: int, limit: int | None) -> None:
    """A ranking of `count` candidates: a 1-D integer tensor of distinct indices in 0..count-1, at least
    min(limit, count) of them; anything else stops the run naming the policy and what it returned."""
    needed = count if limit is None else min(limit, count)
    if policy.rank_cap is not None:
        needed = min(needed, policy.rank_cap)
    problem = None
    if not isinstance(result, torch.Tensor) or result.dim() != 1 or result.dtype.is_floating_point or result.dtype == torch.bool:
        problem = (f"a tensor of shape {tuple(result.shape)} and dtype {result.dtype}" if isinstance(result, torch.Tensor)
                   else f"a {type(result).__name__}")
    elif result.numel() < needed:
        problem = f"{result.numel()} indices (it must rank at least {needed})"
    elif result.numel() and (int(result.min()) < 0 or int(result.max()) >= count):
        problem = f"indices from {int(result.min())} to {int(result.max())} (out of range)"
    elif torch.unique(result).numel() != result.numel():
        problem = f"{result.numel() - torch.unique(result).numel()} repeated indices among {result.numel()}"
    if problem:
        raise MethodError(
            f"Memory policy {policy.name!r} ({type(policy).__module__}.{type(policy).__qualname__}.order) returned "
            f"{problem} when ranking {count} candidates; order must return a 1-D integer tensor of distinct indices "
            f"in 0..{count - 1}, at least {needed} of them (the memory keeps each class's first rows). Fix the policy's order."
        )
