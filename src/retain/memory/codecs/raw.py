"""Raw codec: a row is the uint8 pixel array itself, C*H*W bytes."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from retain.memory.codecs.base import Codec, check_images


class RawCodec(Codec):
    """Lossless storage of uint8 pixels; rows stay tensors so the hot path never builds bytes."""

    name = "raw"
    stores_pixels = True

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        check_images(images)
        return images

    def decode(self, rows: Sequence[torch.Tensor] | torch.Tensor) -> torch.Tensor:
        if isinstance(rows, torch.Tensor):
            return rows
        return torch.stack(list(rows))

    def row_bytes(self, row: torch.Tensor) -> int:
        return row.numel() * row.element_size()

    def describe(self) -> str:
        return "raw uint8 pixels (C*H*W bytes per image)"
