"""Config trees as plain mappings: YAML files, `--set dotted.key=value` overrides, merging, error text."""

from __future__ import annotations

import copy
import re
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from retain.errors import ConfigError, closest_match


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split `a.b.c=value` into its key path and a YAML-parsed value."""
    if "=" not in text:
        raise ConfigError(f"Override {text!r} (--set) must look like dotted.key=value, e.g. train.epochs=3.")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"Override {text!r} (--set) has an empty key; expected dotted.key=value.")
    try:
        value = load_yaml_text(raw) if raw.strip() else ""
    except (DuplicateKeyError, AmbiguousNumberError) as exc:
        raise ConfigError(f"Override {text!r} (--set): {exc}.") from None
    except yaml.YAMLError:
        value = raw
    return key.split("."), value


def apply_override(tree: dict[str, Any], path: list[str], value: Any) -> None:
    """Set tree[path] = value, creating intermediate mappings; a key below a value that is not a
    mapping (a list, a number) is refused rather than replacing that value by a mapping."""
    node = tree
    for depth, part in enumerate(path[:-1]):
        child = node.get(part)
        if child is not None and not isinstance(child, dict):
            held = ".".join(path[:depth + 1])
            raise ConfigError(
                f"The setting {'.'.join(path)}={value!r} goes below {held}, which holds {child!r} ({type(child).__name__}) "
                f"and has no keys; set the whole value of {held} instead."
            )
        if child is None:
            child = {}
            node[part] = child
        node = child
    node[path[-1]] = value


def deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """A copy of `base` with `update` merged in, mappings merged recursively."""
    merged = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe YAML loader that refuses a key written twice in one mapping (plain YAML keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            try:
                if key in seen:
                    raise DuplicateKeyError(key, seen[key], line)
            except TypeError:  # an unhashable key: the base loader reports it
                break
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


class DuplicateKeyError(yaml.YAMLError):
    """A mapping repeats a key."""

    def __init__(self, key: Any, first_line: int, line: int) -> None:
        super().__init__(f"the key {key!r} is written twice (line {first_line} and line {line}); keep one")


class AmbiguousNumberError(yaml.YAMLError):
    """A number YAML 1.1 (PyYAML) reads other than most people mean: 010 is octal 8, 1:30 is 90."""

    def __init__(self, text: str, value: int, line: int) -> None:
        kind = "sexagesimal (base 60)" if ":" in text else "octal"
        super().__init__(f"{text} (line {line}) is read by YAML 1.1 as the {kind} number {value}; write {value} if "
                         f"that is meant, or the number without leading zeros, or quote it to keep it as text")


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    value = yaml.constructor.SafeConstructor.construct_yaml_int(loader, node)
    text = node.value.replace("_", "").lstrip("+-")
    if ":" in text or (len(text) > 1 and text.startswith("0") and text[1].isdigit()):
        raise AmbiguousNumberError(node.value, value, node.start_mark.line + 1)
    return value


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _UniqueKeyLoader.construct_mapping)
_UniqueKeyLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)


def load_yaml_text(text: str) -> Any:
    """Parse YAML like yaml.safe_load, refusing duplicate keys."""
    return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Load a YAML mapping, with a clear error for a missing, unreadable or malformed file."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"Config file {str(path)!r} is a directory; pass the path of a YAML file.")
    if not path.is_file():
        raise ConfigError(f"Config file {str(path)!r} does not exist; pass the path of a YAML file.")
    try:
        data = load_yaml_text(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"Config file {str(path)!r} is not UTF-8 text (byte {exc.start} cannot be decoded); save it as UTF-8."
        ) from None
    except (DuplicateKeyError, AmbiguousNumberError) as exc:
        raise ConfigError(f"Config file {str(path)!r}: {exc}.") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"Config file {str(path)!r} is not valid YAML: {' '.join(str(exc).split())}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"Config file {str(path)!r} must hold a mapping of sections, got {type(data).__name__}.")
    return data


# Pydantic adds the union member or validator tried to an error's location
# (`memory.budget.str`, `scenario.order.literal['natural','shuffle']`, `function-after[...]`);
# these are not settings, so messages leave them out.
_TYPE_TAG = re.compile(r"^(str|int|float|bool|none|list|dict|tuple|set|bytes|[a-z-]+\[.*\])$")


def _field_path(loc: tuple) -> str:
    parts = [str(p) for p in loc if not (isinstance(p, str) and _TYPE_TAG.match(p))]
    return ".".join(parts) or "config"


def _shown(value: Any) -> str:
    text = "{...}" if isinstance(value, dict) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _model_classes(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation can hold (`X`, `X | None`, `list[X]`, `dict[str, X]`)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in typing.get_args(annotation) for model in _model_classes(arg)]


def known_keys(model: type[BaseModel], loc: tuple) -> list[str]:
    """The setting names allowed next to the key at `loc` (its parent's fields), for "did you mean"."""
    models = [model]
    for part in loc[:-1]:
        if not isinstance(part, str) or _TYPE_TAG.match(part):
            continue  # list indices and union tags do not change the model
        inner = [m for parent in models if part in parent.model_fields for m in _model_classes(parent.model_fields[part].annotation)]
        if not inner:
            return []
        models = inner
    return sorted({name for m in models for name in m.model_fields})


def unknown_key_text(field: str, choices: list[str]) -> str:
    """"`train.epoch` is not a known setting (did you mean `train.epochs`?)"."""
    suggestion = closest_match(field.rsplit(".", 1)[-1], choices)
    if suggestion is None:
        return f"`{field}` is not a known setting"
    prefix = field.rsplit(".", 1)[0] + "." if "." in field else ""
    return f"`{field}` is not a known setting (did you mean `{prefix}{suggestion}`?)"


def validation_message(exc: ValidationError, model: type[BaseModel] | None = None, prefix: str = "") -> str:
    """One paragraph naming every offending field, its value and what is allowed.

    The errors of one field (one per union member pydantic tried) are joined: "`memory.budget` =
    [1]: Input should be a valid string, or a valid integer". With the validated `model`, an
    unknown key gets the closest known one at its level ("did you mean `train.epochs`?").
    `prefix` goes before every field name (`method.` for a method's parameters).
    """
    fields: dict[str, dict[str, Any]] = {}
    for error in exc.errors():
        field = prefix + _field_path(error["loc"])
        entry = fields.setdefault(field, {"input": error.get("input"), "messages": [], "unknown": False, "choices": []})
        if error["type"] == "extra_forbidden":
            entry["unknown"] = True
            entry["choices"] = known_keys(model, tuple(error["loc"])) if model is not None else []
            continue
        message = error["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if entry["messages"] and message.startswith("Input should be "):
            message = message.removeprefix("Input should be ")
        if message not in entry["messages"]:
            entry["messages"].append(message)
    parts = []
    for field, entry in fields.items():
        if entry["unknown"]:
            parts.append(unknown_key_text(field, entry["choices"]))
        elif isinstance(entry["input"], dict):  # a section-level check: its message names the fields
            parts.append(f"`{field}`: {', or '.join(entry['messages'])}")
        else:
            parts.append(f"`{field}` = {_shown(entry['input'])}: {', or '.join(entry['messages'])}")
    return "Invalid configuration: " + "; ".join(parts) + "."


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}; lists and scalars are leaves."""
    if isinstance(tree, dict) and tree:
        out: dict[str, Any] = {}
        for key, value in tree.items():
            out.update(flatten(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: tree}
