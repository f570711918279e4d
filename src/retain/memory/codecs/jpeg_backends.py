"""JPEG backends (simplejpeg, Pillow) of the memory's JPEG rows: the one codec in `retain.jpeg`,
shared with the encoded dataset cache."""

from __future__ import annotations

from retain.jpeg import BACKENDS, available, backend_functions, default_backend

__all__ = ["BACKENDS", "available", "backend_functions", "default_backend"]
