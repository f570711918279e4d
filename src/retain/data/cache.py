"""Where downloaded archives and decoded image arrays live: `$RETAIN_DATA` or `~/.cache/retain`."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "RETAIN_DATA"


def cache_root() -> Path:
    """The cache directory (not created here; writers create what they need)."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "retain"


def dataset_cache_dir(name: str) -> Path:
    """The cache folder of one dataset, `<cache>/<name>/`."""
    return cache_root() / name
