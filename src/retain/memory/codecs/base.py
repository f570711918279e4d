"""The codec contract: how one memory row is stored and what it costs in bytes."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import torch


class Codec(ABC):
    """Turns uint8 images N×C×H×W into stored rows and back, and prices each row in bytes.

    `stores_pixels` codecs keep rows as pixel arrays (no bytes objects); the others return
    one `bytes` per image. `header` is a prefix shared by every row and charged once.
    """

    name: str = ""
    stores_pixels: bool = False

    @property
    def header(self) -> bytes:
        return b""

    @abstractmethod
    def encode(self, images: torch.Tensor) -> Sequence[Any]: ...

    @abstractmethod
    def decode(self, rows: Sequence[Any]) -> torch.Tensor: ...

    @abstractmethod
    def row_bytes(self, row: Any) -> int: ...

    @abstractmethod
    def describe(self) -> str: ...

    def set_header(self, header: bytes) -> None:
        """Restore the shared header from a checkpoint (codecs without one ignore it)."""


def check_images(images: torch.Tensor) -> None:
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.dim() != 4:
        got = f"{images.dtype} tensor of shape {tuple(images.shape)}" if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"codecs take uint8 images N×C×H×W, got a {got}")
