"""A run directory as a place on disk: checked before anything is written, one writer at a time.

`check_new_run_dir` refuses an --out that cannot become a new run directory (a file, a path
under a file, an unwritable folder, a directory that already holds a run) before anything is
written. `RunDirLock` is an exclusive OS lock on `<dir>/.retain.lock` held while a process
writes the directory (a run, a resume, a sweep cell, a sweep driver); the OS releases it when
the process exits, however it ends (kill -9 included), so a stale lock never blocks a resume.
A writer that ends cleanly deletes the file; one that was killed leaves it, harmless.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType

from retain.errors import ConfigError

LOCK_FILE = ".retain.lock"
RUN_FILES = ("config.yaml", "results.json")
SWEEP_FILES = ("grid.yaml", "cells.json", "log.jsonl")


def check_new_run_dir(run_dir: Path, option: str = "--out") -> None:
    """Refuse a path that cannot become a new run directory; writes nothing."""
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"{option} {str(run_dir)!r} is a file, not a directory; choose a new directory for the run.")
    if run_dir.is_dir() and any((run_dir / name).exists() for name in RUN_FILES):
        raise ConfigError(
            f"Run directory {str(run_dir)!r} ({option}) already holds a run; choose another {option}, continue it "
            f"with `retain run --resume {run_dir}`, or delete it first. Nothing was overwritten."
        )
    if run_dir.is_dir():
        check_no_foreign_files(run_dir, option, "a run")
    ancestor = run_dir
    while not ancestor.exists():
        if ancestor.parent == ancestor:
            break
        ancestor = ancestor.parent
    if ancestor.exists() and not ancestor.is_dir():
        raise ConfigError(
            f"{option} {str(run_dir)!r} lies under {str(ancestor)!r}, which is a file; choose a directory path."
        )
    if ancestor.exists() and not os.access(ancestor, os.W_OK | os.X_OK):
        raise ConfigError(
            f"{option} {str(run_dir)!r} cannot be written: {str(ancestor)!r} is not writable "
            "(read-only file system or no permission); choose another directory."
        )


def check_same_nproc(run_dir: Path, started: int, now: int) -> None:
    """A distributed run resumes on as many processes as it started with: its checkpoints hold one
    state for every rank, but each rank's share of a batch (BatchNorm over a shard, float summation
    order) depends on the number of processes, so another number would not continue the same run."""
    if now != started:
        raise ConfigError(
            f"{str(run_dir)!r} was started on distributed.nproc={started} process(es) and is resumed on {now}; the "
            f"number of processes decides each rank's share of every batch, so resume with --nproc {started} "
            f"(or start a new run with --nproc {now})."
        )


def foreign_files(directory: Path) -> list[str]:
    """What a directory holds besides a lock file and the temporaries of an interrupted write."""
    return sorted(p.name for p in directory.iterdir() if p.name != LOCK_FILE and not (p.name.startswith(".") and p.name.endswith(".tmp")))


def check_no_foreign_files(directory: Path, option: str, what: str) -> None:
    """Refuse a directory that already holds files (a sweep, anything else) as the place of a new `what`."""
    found = foreign_files(directory)
    if not found:
        return
    if any((directory / name).exists() for name in SWEEP_FILES):
        kind = "is a sweep directory (it holds " + ", ".join(n for n in SWEEP_FILES if (directory / n).exists()) + ")"
    else:
        shown = ", ".join(found[:5]) + (f" and {len(found) - 5} more" if len(found) > 5 else "")
        kind = f"already holds files that are not a run of retain ({shown})"
    raise ConfigError(
        f"{option} {str(directory)!r} {kind}; {what} writes only into a new or empty directory, so choose another "
        f"{option}. Nothing was written or overwritten."
    )


def remove_stale_temporaries(run_dir: Path) -> list[Path]:
    """Delete the `.NAME.*.tmp` files an interrupted atomic write left (call it holding the lock)."""
    removed = []
    for folder in (run_dir, run_dir / "checkpoints"):
        if folder.is_dir():
            for path in folder.glob(".*.tmp"):
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed


class RunDirLock:
    """An exclusive lock on a run (or sweep) directory, held by one process until `release` or exit.

    A second writer is refused with a ConfigError naming the holder's pid.
    """

    def __init__(self, directory: str | Path, what: str = "run directory") -> None:
        self.directory = Path(directory)
        self.what = what
        self._fd: int | None = None

    @property
    def path(self) -> Path:
        return self.directory / LOCK_FILE

    def acquire(self) -> RunDirLock:
        self.directory.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            if not _try_lock(fd):
                holder = _read_pid(fd)
                os.close(fd)
                raise ConfigError(
                    f"The {self.what} {str(self.directory)!r} is being written by another retain process"
                    f"{f' (pid {holder})' if holder else ''}; wait until it ends (or stop it), then try again. "
                    "Two processes never write one run directory at once; nothing was changed."
                )
            if _same_file(fd, self.path):
                break
            os.close(fd)  # the holder deleted this file as we locked it: lock the file now at the path
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        """Delete the lock file (while still holding it), then drop the lock."""
        if self._fd is not None:
            try:
                self.path.unlink(missing_ok=True)
            except OSError:  # Windows cannot delete an open file; the file stays, unlocked
                pass
            os.close(self._fd)  # closing the descriptor drops the lock
            self._fd = None

    def __enter__(self) -> RunDirLock:
        return self.acquire() if self._fd is None else self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.release()


def _try_lock(fd: int) -> bool:
    """Take an exclusive, non-blocking lock on the open file; False when another process holds it."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def _same_file(fd: int, path: Path) -> bool:
    """The open file is still the one at `path` (a releasing holder deletes it after we opened it)."""
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except OSError:
        return False


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode().strip()
        return int(text) if text else None
    except (OSError, ValueError, AttributeError):
        return None
