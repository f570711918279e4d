"""retain: memory-budgeted class-incremental learning."""

from retain.version import __version__

__all__ = ["__version__"]
