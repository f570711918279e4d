"""The base of every config section: unknown keys refused, and no boolean taken for a number.

Pydantic's lax mode turns `true` into 1 for an int field and 1.0 for a float field, so
`train.epochs: true` would silently train one epoch. Every section (and every method's `Params`)
derives from `StrictSection`, which refuses a boolean, or a list holding one, for any field
whose type does not name `bool`. Other lax conversions stay ("0.1" → 0.1, 2.0 → 2): they keep
the value the user wrote.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator


def admits_bool(annotation: Any) -> bool:
    """True when `annotation` (or one of its union members / items) is bool or Any."""
    if annotation is bool or annotation is Any:
        return True
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return any(isinstance(arg, bool) for arg in typing.get_args(annotation))
    if origin is typing.Annotated:
        return admits_bool(typing.get_args(annotation)[0])
    if origin is typing.Union or origin is types.UnionType or origin in (list, tuple, set, frozenset):
        return any(admits_bool(arg) for arg in typing.get_args(annotation))
    if origin is dict:
        return True  # free-form mappings (model.options, method): their own checks apply
    return False


def holds_bool(value: Any) -> bool:
    """A boolean, or a list/tuple holding one at any depth."""
    if isinstance(value, bool):
        return True
    return isinstance(value, (list, tuple)) and any(holds_bool(item) for item in value)


class StrictSection(BaseModel):
    """A config section: unknown keys are refused and booleans are never coerced to numbers."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        if info.field_name is not None and holds_bool(value):
            annotation = cls.model_fields[info.field_name].annotation
            if not admits_bool(annotation):
                raise ValueError(f"a boolean is not allowed here (expected {_describe(annotation)})")
        return value


def _describe(annotation: Any) -> str:
    """`int | None` → "int or null", for the message."""
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        return " or ".join(_describe(arg) for arg in typing.get_args(annotation))
    if origin is typing.Literal:
        return " or ".join(repr(arg) for arg in typing.get_args(annotation))
    if annotation is type(None):
        return "null"
    if origin is list:
        (item,) = typing.get_args(annotation) or (Any,)
        return f"a list of {_describe(item)}"
    return getattr(annotation, "__name__", str(annotation))
