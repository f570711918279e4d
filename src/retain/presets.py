"""Named, versioned protocol presets (YAML files shipped in retain/scenarios/presets/) and the shipped
grids (retain/scenarios/grids/): read without importing torch, so `retain list` starts fast."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from retain.errors import unknown_name


# Not config: what the preset says about itself. `sources` is the provenance table of a preset
# that names a paper or a peer's protocol (`preset_sources`); `by_method` holds the values the
# source fixes per method, applied over the preset when the run's method is named there
# (`apply_method_values`).
PRESET_METADATA = ("description", "version", "sources", "by_method")
SOURCE_KINDS = ("from", "departure", "retain")


def preset_version(name: str) -> int:
    """The version of a preset: bumped whenever its protocol changes."""
    data = yaml.safe_load((_preset_dir() / f"{name}.yaml").read_text()) or {}
    return int(data.get("version", 1))


def _preset_dir():
    # Anchored on `retain` (whose import is light), not `retain.scenarios` (whose import loads torch).
    return resources.files("retain") / "scenarios" / "presets"


def preset_names() -> list[str]:
    """Names of all shipped presets."""
    return sorted(p.name[:-5] for p in _preset_dir().iterdir() if p.name.endswith(".yaml"))


def load_preset(name: str, field: str = "--preset") -> dict[str, Any]:
    """The config mapping of a preset (without its `description`); `field` is where the name was given."""
    names = preset_names()
    if name not in names:
        raise unknown_name("preset", name, names, field=field)
    data = yaml.safe_load((_preset_dir() / f"{name}.yaml").read_text()) or {}
    for key in PRESET_METADATA:
        data.pop(key, None)
    return data


def preset_description(name: str) -> str:
    """The one-line description at the top of a preset file."""
    data = yaml.safe_load((_preset_dir() / f"{name}.yaml").read_text()) or {}
    return str(data.get("description", ""))


def _preset_file(name: str, field: str = "--preset") -> dict[str, Any]:
    names = preset_names()
    if name not in names:
        raise unknown_name("preset", name, names, field=field)
    return yaml.safe_load((_preset_dir() / f"{name}.yaml").read_text()) or {}


def preset_sources(name: str, field: str = "--preset") -> list[dict[str, Any]]:
    """The provenance table of a preset: one entry per hyperparameter, `{"field": dotted config
    key, "value": its resolved value, "methods": [names] (only where the value is one method's),
    and one of "from" (official file and line, or paper section), "departure" (the source fixes
    another value; why retain differs) or "retain" (the source fixes none; retain's choice)}`.
    Empty for a preset that names no source."""
    return [dict(entry) for entry in _preset_file(name, field).get("sources") or []]


def preset_by_method(name: str) -> dict[str, dict[str, Any]]:
    """The per-method values of a preset (`by_method: {memo: {train: {milestones: [...]}}}`)."""
    return dict(_preset_file(name).get("by_method") or {})


def _method_name(tree: dict[str, Any]) -> Any:
    method = tree.get("method")
    return method.get("name") if isinstance(method, dict) else method


def _leaves(tree: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    out: list[tuple[tuple[str, ...], Any]] = []
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            out += _leaves(value, (*prefix, key))
        else:
            out.append(((*prefix, key), value))
    return out


_MISSING = object()


def _lookup(tree: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if not isinstance(tree, dict) or part not in tree:
            return _MISSING
        tree = tree[part]
    return tree


def apply_method_values(tree: dict[str, Any]) -> dict[str, Any]:
    """`tree` (a preset merged with the user's file, --set overrides or grid axes) with its
    preset's `by_method` values for the tree's method: each replaces a setting that still holds
    the preset's own value (or that the preset leaves unset and the tree too), so a value the
    user changed wins. A tree without a preset, or whose method the preset does not name, is
    returned unchanged. E.g. `cifar100-b0-inc10` with method.name=wa trains with WA's
    milestones [60, 100, 140]; `--set train.milestones=[50]` still gives [50] (a value equal to
    the preset's own, [80, 120], cannot be told from an unset one and takes the method's)."""
    name = tree.get("preset")
    if not isinstance(name, str) or name not in preset_names():
        return tree
    method = _method_name(tree)
    if not isinstance(method, str):  # not a name: validation refuses it, naming the field
        return tree
    overlay = preset_by_method(name).get(method)
    if not overlay:
        return tree
    base = load_preset(name)
    for path, value in _leaves(overlay):
        if _lookup(tree, path) is _MISSING or _lookup(tree, path) == _lookup(base, path):
            node = tree
            for part in path[:-1]:
                node = node.setdefault(part, {})
            node[path[-1]] = value
    return tree


GRIDS_DIR = Path(__file__).resolve().parent / "scenarios" / "grids"


def grid_names() -> list[str]:
    """Names of the grids shipped with retain."""
    return sorted(p.stem for p in GRIDS_DIR.glob("*.yaml"))


def grid_description(name: str) -> str:
    """A shipped grid's description: the sentences of its file's leading comment up to the
    first line that says how to run it."""
    lines = []
    for line in (GRIDS_DIR / f"{name}.yaml").read_text().splitlines():
        if not line.startswith("#"):
            break
        text = line.lstrip("#").strip()
        if text.lower().startswith("run:"):
            break
        lines.append(text)
    return " ".join(lines)
