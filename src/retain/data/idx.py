"""Reader for the IDX format of MNIST-style datasets (optionally gzip-compressed)."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from retain.errors import DatasetError

# Third byte of the magic number -> element type (multi-byte types are big-endian).
_IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: Path) -> np.ndarray:
    """The array stored in an IDX file (`.gz` files are decompressed)."""
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as handle:
            raw = handle.read()
    except (OSError, EOFError, zlib.error) as error:
        raise DatasetError(f"Cannot read IDX file {path}: {error}. Delete it and fetch it again.") from error
    return parse_idx(raw, path)


def parse_idx(raw: bytes, path: Path) -> np.ndarray:
    """Decode IDX bytes; `path` only names the file in errors."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise DatasetError(
            f"IDX file {path} has an invalid magic number {raw[:4].hex() or '(empty)'}: expected two "
            f"zero bytes, a type code in {sorted(hex(code) for code in _IDX_TYPES)} and the number "
            "of dimensions. The file is not an IDX file or is corrupt."
        )
    dtype, ndim = _IDX_TYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetError(f"IDX file {path} is truncated inside its header ({len(raw)} bytes for {ndim} dimensions).")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        raise DatasetError(
            f"IDX file {path} declares shape {shape} ({expected} bytes with header) but holds "
            f"{len(raw)} bytes. The file is truncated or corrupt."
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))
