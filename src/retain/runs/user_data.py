"""The configured dataset loaded, with a user's loader failing reported as one paragraph.

A plugin's dataset loader is the user's own code: an exception raised in it (a ValueError, an
OSError of its own files) names the loader, its file and function and shows the user's frames,
instead of a traceback or an error that blames retain's run directory.
"""

from __future__ import annotations

from typing import Any

from retain.config.sections import DataConfig
from retain.data import Dataset, load_configured_dataset
from retain.errors import DatasetError, RetainError


def load_user_dataset(data: DataConfig, after: str = "Nothing was written; fix the loader and run again.", **settings: Any) -> Dataset:
    """`load_configured_dataset(data, **settings)`; an exception raised in a plugin loader's own frames becomes a
    DatasetError naming it (retain's own failures are raised as they are)."""
    from retain.plugins import user_code_failure

    try:
        return load_configured_dataset(data, **settings)
    except RetainError:
        raise
    except Exception as exc:
        text = user_code_failure(exc, f"Dataset loader {data.name!r} (data.name)", "while loading the data", after)
        if text is None:
            raise
        raise DatasetError(text) from None
