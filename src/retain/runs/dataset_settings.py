"""data.* settings the named dataset does not read are refused.

Each dataset source declares at registration which of `data.dir`, `data.download`,
`data.mirror` and `data.path` it reads (`register_dataset(..., reads=...)`; a plugin that says
nothing reads them all). A value the user chose for one it does not read would change nothing
(`data.dir=/tmp` with the digits bundled with scikit-learn), so it is refused naming the field,
the dataset and what the dataset does read.
"""

from __future__ import annotations

from typing import Any

from retain.config.sections import DataConfig
from retain.data.registry import READABLE, dataset_entry
from retain.errors import ConfigError


def check_dataset_settings(config: Any, user_tree: dict[str, Any]) -> None:
    """ConfigError when a data.* field the user set (to other than its default) is one the named
    dataset does not read; `user_tree` is what the user wrote (file, --set, grid)."""
    entry = dataset_entry(config.data.name)
    if entry.reads is None:
        return
    written = user_tree.get("data") if isinstance(user_tree.get("data"), dict) else {}
    default = DataConfig()
    unread = [field for field in READABLE if field in written and field not in entry.reads
              and getattr(config.data, field) != getattr(default, field)]
    if not unread:
        return
    settings = ", ".join(f"data.{field}={getattr(config.data, field)!r}" for field in unread)
    reads = ", ".join(f"data.{field}" for field in READABLE if field in entry.reads) or "none of data.dir, data.download, data.mirror, data.path"
    why = (" (it is bundled with scikit-learn and reads no files)" if entry.name == "digits" else "")
    raise ConfigError(
        f"{settings}: dataset {entry.name!r} (data.name) does not read {'this setting' if len(unread) == 1 else 'these settings'}"
        f"{why}, so {'it' if len(unread) == 1 else 'they'} would take no effect. It reads: {reads}. Remove "
        f"{'it' if len(unread) == 1 else 'them'}, or name the dataset that should read {'it' if len(unread) == 1 else 'them'} "
        "(data.name). Nothing was run or written."
    )
