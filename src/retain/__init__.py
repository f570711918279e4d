"""retain: memory-budgeted class-incremental learning."""

__version__ = "0.1.0"
