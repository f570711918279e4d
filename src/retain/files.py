"""Files written whole or not at all: a temporary file beside the target, fsync, rename.

Results, checkpoints, reports and memorization scores are all written through here, so a crash
leaves the old file or the new one, never half of one.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import IO, Any, Callable


def create_temporary(path: Path) -> tuple[int, str]:
    """A new file beside `path` opened for writing, with the mode any new file gets (0666 less the
    umask: 0644 under umask 022), so colleagues can read results and checkpoints. mkstemp would
    make it 0600, which the rename keeps."""
    while True:
        tmp = str(path.parent / f".{path.name}.{secrets.token_hex(8)}.tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666), tmp
        except FileExistsError:  # pragma: no cover - 64 random bits
            continue


def atomic_write(path: str | Path, write: Callable[[IO[Any]], None], binary: bool = False,
                 before_rename: Callable[[Path], None] | None = None) -> None:
    """Call `write(handle)` on a temporary file beside `path`, fsync, then rename it over `path`,
    so readers see the old file or the new one, never half of it. `before_rename(temporary)`
    runs between the fsync and the rename (a checkpoint's digest is written there)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = create_temporary(path)
    try:
        with os.fdopen(fd, "wb" if binary else "w") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        if before_rename is not None:
            before_rename(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    """Atomically replace `path` with `text`."""
    atomic_write(path, lambda handle: handle.write(text))
