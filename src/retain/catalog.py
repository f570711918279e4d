"""What `retain list` shows: every registered name of a kind with its full description, and a
method's parameters (type, default, help) read from its `Params` model.

The built-in methods, policies, backbones and datasets, and the built-in methods' parameters, are
listed from builtin_catalog.json without importing their registries (which import torch:
seconds). That file is written from the registries themselves (`python -m
retain.catalog`), and tests/test_catalog.py fails when the two differ. Once
a registry is loaded (a plugin registered into it, or a run in this process), the registry is
listed instead, plugins included.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from retain.errors import ConfigError, unknown_name

KINDS = ("presets", "methods", "policies", "backbones", "datasets", "grids")
# The package whose import registers each kind's built-in entries.
REGISTERING = {"methods": "retain.methods", "policies": "retain.memory.policies",
               "backbones": "retain.models", "datasets": "retain.data"}
BUILTIN_FILE = Path(__file__).with_name("builtin_catalog.json")


def _doc(obj: Any) -> str:
    """The docstring of `obj` as one paragraph (blank lines become line breaks). A class's own: one
    without a docstring is not described by the base class it extends (a plugin would read as its base)."""
    own = obj.__dict__.get("__doc__") if isinstance(obj, type) else inspect.getdoc(obj)
    text = inspect.cleandoc(own) if own else f"(no description: {getattr(obj, '__qualname__', obj)!s} has no docstring)"
    return "\n".join(" ".join(block.split()) for block in text.split("\n\n") if block.strip())


def entries(kind: str) -> list[tuple[str, str]]:
    """(name, full description) of every registered name of `kind` (one of KINDS), plugins included."""
    if kind == "presets":
        from retain.presets import preset_description, preset_names

        return [(name, preset_description(name)) for name in preset_names()]
    if kind == "grids":
        from retain.presets import grid_description, grid_names

        return [(name, grid_description(name)) for name in grid_names()]
    if kind not in REGISTERING:
        raise unknown_name("kind", kind, KINDS, field="retain list KIND")
    if REGISTERING[kind] in sys.modules:  # loaded: plugins may have added names
        return [(name, text) for name, _, text in registered(kind)]
    return list(_builtin_catalog()[kind].items())


@functools.lru_cache(maxsize=1)
def _builtin_catalog() -> dict[str, dict[str, Any]]:
    return json.loads(BUILTIN_FILE.read_text(encoding="utf-8"))


def _former_names(old: list[str]) -> str:
    return f" (Former name, still accepted with a warning: {', '.join(old)}.)" if old else ""


def registered(kind: str) -> list[tuple[str, Any, str]]:
    """(name, registered object, description) of every entry of a registry kind, read from the
    registry (importing its package, and torch)."""
    if kind == "methods":
        from retain.methods import get_method_class, method_names
        from retain.methods.base import method_aliases

        aliases = method_aliases()
        return [(name, get_method_class(name), _doc(get_method_class(name)) + _former_names(aliases.get(name, [])))
                for name in method_names()]
    if kind == "policies":
        from retain.memory.policies import policy_class, policy_names

        return [(name, policy_class(name), _doc(policy_class(name))) for name in policy_names()]
    if kind == "backbones":
        from retain.models import backbone_builder, backbone_names, is_split_backbone

        return [(name, backbone_builder(name),
                 _doc(backbone_builder(name)) + (" (splittable: MEMO/DER)" if is_split_backbone(name) else ""))
                for name in backbone_names()]
    if kind == "datasets":
        from retain.data import dataset_entry, dataset_names

        return [(name, dataset_entry(name).loader, _doc(dataset_entry(name).loader)) for name in dataset_names()]
    raise unknown_name("kind", kind, tuple(REGISTERING), field="catalog kind")


def builtin_catalog() -> dict[str, dict[str, Any]]:
    """What builtin_catalog.json must hold, kind -> {name: description} in listing order, and
    "parameters" -> {method: [its parameters as `Parameter` fields]}: the registries' entries
    defined in retain itself (a plugin's are left out, so this can run in a process where plugins
    registered too)."""
    listed: dict[str, dict[str, Any]] = {
        kind: {name: text for name, obj, text in registered(kind) if getattr(obj, "__module__", "").startswith("retain.")}
        for kind in REGISTERING}
    listed["parameters"] = {name: [dataclasses.asdict(p) for p in _registered_parameters(name)] for name in listed["methods"]}
    from retain.methods.base import method_aliases

    listed["former_names"] = {old: new for new, olds in method_aliases().items() if new in listed["methods"] for old in olds}
    return listed


def canonical_method_name(name: str) -> str:
    """A method's name as registered now (a former name gives today's, with a warning); read from
    builtin_catalog.json while the method registry is not loaded (no torch)."""
    if REGISTERING["methods"] in sys.modules:
        from retain.methods.base import canonical_method_name as registered_name

        return registered_name(name)
    former = _builtin_catalog().get("former_names", {})
    if name in former and name not in _builtin_catalog()["methods"]:
        from retain.errors import warn_renamed

        warn_renamed(f"method.name={name!r}", f"method.name={former[name]!r}")
        return former[name]
    return name


def builtin_catalog_text() -> str:
    """builtin_catalog.json's expected text."""
    return json.dumps(builtin_catalog(), indent=1, ensure_ascii=False) + "\n"


@dataclass(frozen=True)
class Parameter:
    """One method parameter as `retain list methods NAME` shows it."""

    name: str
    type: str
    default: Any
    help: str


def _sentences_naming(text: str, name: str) -> list[str]:
    sentences = re.split(r"(?<=[.;])\s+", " ".join(text.split()))
    return [s for s in sentences if f"`{name}" in s]


def _constraints(field: Any) -> str:
    symbols = {"gt": ">", "ge": "≥", "lt": "<", "le": "≤"}
    found = [f"{symbols[key]} {getattr(item, key)}" for item in field.metadata
             for key in symbols if getattr(item, key, None) is not None]
    return ("must be " + " and ".join(found)) if found else ""


def method_parameters(name: str) -> list[Parameter]:
    """Every parameter of method `name`: its type, default and help (the field's description, else
    the sentences of the Params/method docstrings that name it, plus its bounds); a built-in
    method's from builtin_catalog.json while the method registry is not loaded."""
    if REGISTERING["methods"] not in sys.modules:
        listed = _builtin_catalog()
        if name not in listed["parameters"]:
            raise unknown_name("method", str(name), listed["methods"], field="method.name", pluggable=True)
        return [Parameter(**fields) for fields in listed["parameters"][name]]
    return _registered_parameters(name)


def _registered_parameters(name: str) -> list[Parameter]:
    """method_parameters read from the registered class (importing it, and torch). A default is
    shown as its JSON value, as builtin_catalog.json holds it."""
    from pydantic import BaseModel

    from retain.config.strict import _describe
    from retain.methods import get_method_class

    method_cls = get_method_class(name)
    params: type[BaseModel] = method_cls.Params
    docs = [inspect.getdoc(cls) or "" for cls in params.__mro__ if isinstance(cls, type) and issubclass(cls, BaseModel)]
    docs.append(inspect.getdoc(method_cls) or "")
    docs.append(inspect.getdoc(inspect.getmodule(method_cls)) or "")
    out = []
    for field_name, field in params.model_fields.items():
        parts = [field.description] if field.description else []
        if not parts:
            seen: list[str] = []
            for doc in docs:
                seen += [s for s in _sentences_naming(doc, field_name) if s not in seen]
            parts = seen
        bounds = _constraints(field)
        if bounds:
            parts.append(f"({bounds})")
        default = field.get_default(call_default_factory=True)
        if isinstance(default, BaseModel):
            default = default.model_dump(mode="json")
        out.append(Parameter(field_name, _describe(field.annotation), _as_json(default), " ".join(parts) or "-"))
    return out


def _as_json(value: Any) -> Any:
    """`value` as builtin_catalog.json gives it back (a tuple as a list), when JSON can hold it."""
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError):  # a plugin's default JSON cannot hold: shown as it is
        return value


def check_kind(kind: str) -> str:
    """`kind` as KINDS spells it (singular forms and `memory` accepted), else a ConfigError with a suggestion."""
    aliases = {"method": "methods", "policy": "policies", "backbone": "backbones", "dataset": "datasets",
               "preset": "presets", "grid": "grids", "memory": "policies"}
    kind = aliases.get(kind, kind)
    if kind not in KINDS:
        raise unknown_name("kind", kind, KINDS, field="retain list KIND")
    return kind


def check_method_detail(kind: str, name: str | None) -> None:
    """Only methods (their parameters) and presets (their sources) have per-name listings."""
    if name is not None and kind not in ("methods", "presets"):
        raise ConfigError(f"`retain list {kind} {name}`: only methods (parameters) and presets (sources) have "
                          "details to list; use `retain list methods NAME` or `retain list presets NAME`.")


def preset_source_rows(name: str) -> list[tuple[str, str, str, str]]:
    """(field, value, methods, where it comes from) of every entry of a preset's provenance table;
    the last column starts with `departure:` or `retain:` where the value is not the source's."""
    from retain.presets import SOURCE_KINDS, preset_sources

    entries = preset_sources(name, field="retain list presets NAME")
    own_rows: dict[str, list[str]] = {}  # a field's methods with a value of their own (`by_method`)
    for entry in entries:
        own_rows.setdefault(str(entry["field"]), []).extend(entry.get("methods") or [])
    rows = []
    for entry in entries:
        kind = next((k for k in SOURCE_KINDS if k in entry), "from")
        where = str(entry.get(kind, "")) if kind == "from" else f"{kind}: {entry.get(kind, '')}"
        others = sorted(set(own_rows[str(entry["field"])]))
        methods = ", ".join(entry.get("methods") or []) or (f"all but {', '.join(others)}" if others else "all")
        rows.append((str(entry["field"]), repr(entry["value"]), methods, where))
    return rows


__all__ = ["KINDS", "Parameter", "builtin_catalog", "builtin_catalog_text", "canonical_method_name", "check_kind",
           "check_method_detail", "entries",
           "method_parameters", "preset_source_rows", "registered"]


if __name__ == "__main__":  # python -m retain.catalog: rewrite builtin_catalog.json
    BUILTIN_FILE.write_text(builtin_catalog_text(), encoding="utf-8")
    print(f"wrote {BUILTIN_FILE}")
