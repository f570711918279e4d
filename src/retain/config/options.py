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
