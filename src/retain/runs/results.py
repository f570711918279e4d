"""Files of a run directory, written atomically (temporary file, then rename)."""

from __future__ import annotations

import json
import math
import os
import platform
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from retain.files import atomic_write, atomic_write_text, create_temporary  # noqa: F401  (also imported from here)
import retain.version


def _json_safe(value: Any) -> Any:
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        if all(type(v) is int for v in value):  # index lists (plan.json): ~100x faster than recursing
            return list(value)
        return [_json_safe(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return _json_safe(float(value))
    if isinstance(value, np.ndarray):
        return _json_safe(value.tolist())
    if isinstance(value, torch.Tensor):
        return _json_safe(value.tolist())
    return value


def write_json(path: str | Path, data: Any) -> None:
    """Atomically write JSON (NaN written as null)."""
    atomic_write_text(path, json.dumps(_json_safe(data), indent=2) + "\n")


def write_yaml(path: str | Path, data: Any) -> None:
    """Atomically write YAML."""
    atomic_write_text(path, yaml.safe_dump(_json_safe(data), sort_keys=False))


SOURCES_HEADER = "# Where each value came from (a comment, not a setting; --resume reads it back):"


def write_config_yaml(path: str | Path, config_dict: dict[str, Any], sources: dict[str, str]) -> None:
    """Atomically write a run's config.yaml: the resolved config, headed by where its values came from."""
    header = [SOURCES_HEADER] + [f"#   {field}: {source}" for field, source in sources.items()]
    body = yaml.safe_dump(_json_safe(config_dict), sort_keys=False)
    atomic_write_text(path, "\n".join(header) + "\n" + body if sources else body)


def read_config_sources(path: str | Path) -> dict[str, str]:
    """The sources header of a config.yaml written by `write_config_yaml` ({} when it has none)."""
    sources: dict[str, str] = {}
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return sources
    if not lines or lines[0] != SOURCES_HEADER:
        return sources
    for line in lines[1:]:
        if not line.startswith("#   ") or ": " not in line:
            break
        field, source = line[4:].split(": ", 1)
        sources[field] = source
    return sources


def versions() -> dict[str, str]:
    """Library, interpreter and machine facts recorded with every result."""
    return {
        "retain": retain.version.__version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_count": str(os.cpu_count()),
        "torch_threads": str(torch.get_num_threads()),
    }


# Before IL2M's rectified scores had a score set of their own, results.json called them "cnn" and the
# logits "raw"; an old file is read with today's names.
_IL2M_RENAMES = {"cnn": "il2m", "raw": "cnn", "cnn-til": "il2m-til", "raw-til": "cnn-til"}


def read_run_results(run_dir: Path) -> dict[str, Any] | None:
    """The results.json of `run_dir` (upgraded to today's keys), None when there is none or it is not JSON
    (written atomically, so only a foreign file can be malformed; a resumed run recomputes it)."""
    path = run_dir / "results.json"
    try:
        return upgraded(json.loads(path.read_text())) if path.is_file() else None
    except json.JSONDecodeError:
        return None


def upgraded(results: dict[str, Any]) -> dict[str, Any]:
    """A results.json as this version names it (older files are renamed in memory, not on disk)."""
    scores = results.get("accuracy")
    if (results.get("method") != "il2m" or not isinstance(scores, dict) or "raw" not in scores
            or "il2m" in scores):  # today's names already (a file holding both is not renamed)
        return results
    for key in ("accuracy", "metrics_by_score"):
        if isinstance(results.get(key), dict):
            results[key] = {_IL2M_RENAMES.get(name, name): value for name, value in results[key].items()}
    if results.get("primary_score") == "cnn":
        results["primary_score"] = "il2m"
    return results
