"""User-facing errors: one paragraph naming the field, the value and what is allowed."""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Iterable


class RetainError(Exception):
    """An error caused by the user's input (config, files, budget); printed without a traceback."""


class ConfigError(RetainError):
    """A configuration field has a value that is not allowed."""


class DatasetError(RetainError):
    """Dataset files are missing, malformed or fail their checksum."""


class DatasetNotFound(DatasetError):
    """A dataset's files are not where they were looked for (and were not downloaded): a dry run
    plans on the registered geometry instead."""


class BudgetError(RetainError):
    """A memory budget is impossible or was exceeded."""


class CheckpointError(RetainError):
    """A checkpoint is corrupt or belongs to a different configuration."""


class MethodError(RetainError):
    """A method's own code (a user's plugin) raised, or returned what the engine cannot use."""


class SweepError(RetainError):
    """Cells of a sweep failed (`retain.sweep`); `summary` is the sweep's SweepSummary."""

    def __init__(self, message: str, summary: object = None) -> None:
        super().__init__(message)
        self.summary = summary


class StorageError(RetainError):
    """A file or folder cannot be written or read: disk full, read-only, a path that is a file."""


def storage_error(exc: OSError, what: str, hint: str = "") -> StorageError:
    """A StorageError for an OSError met while doing `what`, naming the path and the cause."""
    path = f" {str(exc.filename)!r}" if exc.filename else ""
    cause = exc.strerror or type(exc).__name__
    return StorageError(f"Cannot {what}:{path} {cause} (errno {exc.errno}).{(' ' + hint) if hint else ''}")


def closest_match(name: str, choices: Iterable[str]) -> str | None:
    """The choice most similar to `name`, or None when nothing is close."""
    matches = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return matches[0] if matches else None


def unknown_name(kind: str, name: str, choices: Iterable[str], field: str | None = None,
                 pluggable: bool = False) -> ConfigError:
    """Error for an unknown registry name, suggesting the closest known one; for a kind users can
    add (`pluggable`), without a close name, how to make their own known."""
    choices = sorted(choices)
    where = f" ({field})" if field else ""
    message = f"Unknown {kind}{where} {name!r}. Known names: {', '.join(choices)}."
    suggestion = closest_match(name, choices)
    if suggestion:
        message += f" Did you mean {suggestion!r}?"
    elif pluggable:
        message += (f" If {name!r} is a {kind} of your own, import the module or file that registers it: --import "
                    "MODULE|FILE on the command line, `imports:` in the config or grid, imports=[...] in Python.")
    return ConfigError(message)


class RetainDeprecationWarning(FutureWarning):
    """An old spelling (a setting's or a method's name) that still works but has a new one;
    shown by default, and by the command line (retain.console)."""


def warn_renamed(old: str, new: str, stacklevel: int = 3) -> None:
    """Say once per call site that `old` is accepted but is now spelled `new`."""
    warnings.warn(f"{old} is deprecated: it is now {new}; the old spelling still works for now.",
                  RetainDeprecationWarning, stacklevel=stacklevel)
