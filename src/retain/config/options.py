"""Options of a config section (`model.options`, `data.options`) checked against the function that takes them.

A registered backbone builder or dataset loader declares its options as keyword-only
parameters; the names a user may set are exactly those, so a typo is refused before anything
runs instead of being silently ignored.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from retain.errors import ConfigError, closest_match


def keyword_options(function: Callable[..., Any]) -> list[str]:
    """The keyword-only parameter names of `function` (a class: of its constructor)."""
    parameters = inspect.signature(function).parameters.values()
    return [p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY]


def accepts_any_keyword(function: Callable[..., Any]) -> bool:
    """True when `function` takes `**kwargs`, so any option name is its own business."""
    return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in inspect.signature(function).parameters.values())


def check_options(kind: str, name: str, function: Callable[..., Any], options: Mapping[str, Any], field: str) -> None:
    """ConfigError naming `field` when an option is not a keyword-only parameter of `function`."""
    if accepts_any_keyword(function):
        return
    allowed = keyword_options(function)
    for option in options:
        if option not in allowed:
            known = ", ".join(allowed) if allowed else "none"
            suggestion = closest_match(str(option), allowed)
            hint = f" Did you mean {suggestion!r}?" if suggestion else ""
            raise ConfigError(f"{kind} {name!r} has no option {option!r} ({field}). Its options are: {known}.{hint}")
    check_option_types(kind, name, function, options, field)


_SIMPLE_TYPES = {"int": int, "float": float, "str": str, "bool": bool}


def _simple_annotation(parameter: inspect.Parameter) -> type | None:
    """int, float, str or bool when the parameter is annotated as exactly that (a string annotation
    too, `from __future__ import annotations`); None for anything else (left to the function)."""
    annotation = parameter.annotation
    if isinstance(annotation, str):
        return _SIMPLE_TYPES.get(annotation.strip())
    return annotation if annotation in _SIMPLE_TYPES.values() else None


def _fits(value: Any, wanted: type) -> bool:
    if wanted is bool:
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if wanted is float:
        return isinstance(value, (int, float))
    return isinstance(value, wanted)


def check_option_types(kind: str, name: str, function: Callable[..., Any], options: Mapping[str, Any], field: str) -> None:
    """ConfigError naming `field.option`, the value and the type when an option annotated int, float,
    str or bool gets a value of another type (the function would fail deep inside, or compute
    with it wrongly); other annotations are the function's to check."""
    parameters = inspect.signature(function).parameters
    for option, value in options.items():
        parameter = parameters.get(option)
        wanted = _simple_annotation(parameter) if parameter is not None else None
        if wanted is not None and not _fits(value, wanted):
            raise ConfigError(
                f"{kind} {name!r}: {field}.{option} = {value!r} ({type(value).__name__}) is not allowed; its "
                f"{function.__name__ if hasattr(function, '__name__') else 'builder'}() declares it as {wanted.__name__}"
                f"{' (an integer or a decimal number)' if wanted is float else ''}. Give a {wanted.__name__} value."
            )
