"""Named, versioned protocol presets: YAML files shipped in retain/scenarios/presets/."""

from __future__ import annotations

from importlib import resources
from typing import Any

import yaml

from retain.errors import unknown_name


PRESET_METADATA = ("description", "version")


def preset_version(name: str) -> int:
    """The version of a preset: bumped whenever its protocol changes."""
    data = yaml.safe_load((_preset_dir() / f"{name}.yaml").read_text()) or {}
    return int(data.get("version", 1))


def _preset_dir():
    return resources.files("retain.scenarios") / "presets"


def preset_names() -> list[str]:
    """Names of all shipped presets."""
    return sorted(p.name[:-5] for p in _preset_dir().iterdir() if p.name.endswith(".yaml"))


def load_preset(name: str) -> dict[str, Any]:
    """The config mapping of a preset (without its `description`)."""
    names = preset_names()
    if name not in names:
        raise unknown_name("preset", name, names, field="--preset")
    data = yaml.safe_load((_preset_dir() / f"{name}.yaml").read_text()) or {}
    for key in PRESET_METADATA:
        data.pop(key, None)
    return data


def preset_description(name: str) -> str:
    """The one-line description at the top of a preset file."""
    data = yaml.safe_load((_preset_dir() / f"{name}.yaml").read_text()) or {}
    return str(data.get("description", ""))
