"""Codecs: how a memory row is stored (raw pixels or JPEG bytes) and what it costs."""

from __future__ import annotations

from retain.memory.codecs.base import Codec
from retain.memory.codecs.jpeg import JpegCodec
from retain.memory.codecs.jpeg_markers import split_header
from retain.memory.codecs.raw import RawCodec

__all__ = ["Codec", "JpegCodec", "RawCodec", "split_header"]
