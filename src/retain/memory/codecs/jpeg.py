"""JPEG codec: a row is an encoded file (or, with a shared header, the file minus its header)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from retain.errors import ConfigError
from retain.memory.codecs.base import Codec, check_images
from retain.memory.codecs.jpeg_backends import BACKENDS, available, backend_functions, default_backend
from retain.memory.codecs.jpeg_markers import SOI, split_header


class JpegCodec(Codec):
    """Lossy JPEG rows (4:2:0 chroma for colour, 1-channel grayscale supported).

    With `shared_header`, every file of one image size and quality has the same header
    (quantisation and Huffman tables, frame and scan headers), so the header is stored once
    and each row keeps only the entropy-coded rest; decoding re-joins them into the exact
    original file. A row whose header differs is kept as a full file (it starts with SOI).
    """

    name = "jpeg"
    stores_pixels = False

    def __init__(self, quality: int, backend: str | None = None, shared_header: bool = False) -> None:
        if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 100:
            raise ConfigError(f"memory.quality={quality!r} is not a JPEG quality: use a whole number from 1 to 100.")
        backend = default_backend() if backend is None else backend
        if backend not in BACKENDS or not available(backend):
            why = "is not installed" if backend in BACKENDS else "is unknown"
            raise ConfigError(
                f"memory.jpeg_backend={backend!r} {why}. Allowed: 'simplejpeg' (when installed) or 'pillow'."
            )
        self.quality = quality
        self.backend = backend
        self.shared_header = shared_header
        self._header = b""
        self._encode_one, self._decode_one = backend_functions(backend)

    @property
    def header(self) -> bytes:
        return self._header

    def set_header(self, header: bytes) -> None:
        if self.shared_header:
            self._header = bytes(header)

    def encode(self, images: torch.Tensor) -> list[bytes]:
        check_images(images)
        if images.shape[1] not in (1, 3):
            raise ConfigError(
                f"memory.codec='jpeg' stores 1-channel (grayscale) or 3-channel (RGB) images, "
                f"not {images.shape[1]} channels; use memory.codec='raw' for this dataset."
            )
        arrays = images.detach().to("cpu").permute(0, 2, 3, 1).contiguous().numpy()
        files = [self._encode_one(image, self.quality) for image in arrays]
        return [self._strip(f) for f in files] if self.shared_header else files

    def _strip(self, data: bytes) -> bytes:
        header, rest = split_header(data)
        if not self._header:
            self._header = header
        return rest if header == self._header else data

    def full_file(self, row: bytes) -> bytes:
        """The complete JPEG file of a row (header re-joined in shared-header mode)."""
        return row if row.startswith(SOI) else self._header + row

    def decode(self, rows: Sequence[bytes], channels: int | None = None) -> torch.Tensor:
        if len(rows) == 0:
            raise ValueError("decode needs at least one row")
        if channels is None:
            channels = _channels_of(self.full_file(rows[0]))
        arrays = [self._decode_one(self.full_file(row), channels) for row in rows]
        return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()

    def row_bytes(self, row: bytes) -> int:
        return len(row)

    def describe(self) -> str:
        header = "shared header stored once" if self.shared_header else "full files"
        return f"jpeg quality {self.quality} via {self.backend}, 4:2:0 chroma, {header}"


def _channels_of(data: bytes) -> int:
    """Number of components in the frame header (SOF0..SOF2) of a JPEG file."""
    pos = 2
    while pos + 4 <= len(data):
        marker = data[pos + 1]
        if marker in (0xC0, 0xC1, 0xC2):
            return data[pos + 9]
        pos += 2 + ((data[pos + 2] << 8) | data[pos + 3])
    raise ValueError("malformed JPEG: no frame header")
