"""The base of every config section: unknown keys refused, and no boolean taken for a number.

Pydantic's lax mode turns `true` into 1 for an int field and 1.0 for a float field, so
`train.epochs: true` would silently train one epoch. Every section (and every method's `Params`)
derives from `StrictSection`, which refuses a boolean, or a list holding one, for any field
whose type does not name `bool`; a non-finite float (inf, nan), which no setting means and which
config.yaml could not write back (JSON has no inf), anywhere in a field's value; and an integer
beyond 64 bits (`1e20` is read as a whole number too large for any tensor size). Other lax conversions stay ("0.1" → 0.1, 2.0 → 2): they keep
the value the user wrote.
"""

from __future__ import annotations

import math
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

    @field_validator("*", mode="after")
    @classmethod
    def _finite_and_64_bit(cls, value: Any, info: ValidationInfo) -> Any:
        bad = _out_of_kind(value)
        if bad is not None:
            raise ValueError(bad)
        return value


MAX_INT = 2**63 - 1


def _out_of_kind(value: Any) -> str | None:
    """Why a validated value cannot be kept (a non-finite float, an integer beyond 64 bits), or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"{value} is not a finite number (inf and nan are not allowed here); give a finite number"
    if isinstance(value, int) and not isinstance(value, bool) and not -MAX_INT - 1 <= value <= MAX_INT:
        return f"{value} is too large for a 64-bit integer (at most {MAX_INT})"
    if isinstance(value, (list, tuple)):
        return next((reason for item in value if (reason := _out_of_kind(item)) is not None), None)
    if isinstance(value, dict):
        return next((f"`{key}` = {reason}" for key, item in value.items() if (reason := _out_of_kind(item)) is not None), None)
    return None


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
