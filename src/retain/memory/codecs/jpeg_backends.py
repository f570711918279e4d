"""JPEG backends (simplejpeg, Pillow) behind one pair of functions on H×W×C uint8 arrays.

Both use libjpeg's accurate integer DCT and fancy upsampling, so either backend decodes a
file to the same pixels (to within one grey level: each library bundles its own libjpeg
build), and encoding uses 4:2:0 chroma subsampling for colour images.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np

try:
    import simplejpeg
except ImportError:  # pragma: no cover - depends on the platform wheel
    simplejpeg = None

BACKENDS = ("simplejpeg", "pillow")


def default_backend() -> str:
    return "simplejpeg" if simplejpeg is not None else "pillow"


def available(backend: str) -> bool:
    return backend == "pillow" or (backend == "simplejpeg" and simplejpeg is not None)


def _encode_simplejpeg(image: np.ndarray, quality: int) -> bytes:
    gray = image.shape[2] == 1
    return simplejpeg.encode_jpeg(
        image,
        quality=quality,
        colorspace="GRAY" if gray else "RGB",
        colorsubsampling="Gray" if gray else "420",
        fastdct=False,
    )


def _decode_simplejpeg(data: bytes, channels: int) -> np.ndarray:
    return simplejpeg.decode_jpeg(
        data, colorspace="GRAY" if channels == 1 else "RGB", fastdct=False, fastupsample=False
    )


def _encode_pillow(image: np.ndarray, quality: int) -> bytes:
    from PIL import Image

    pil = Image.fromarray(image[:, :, 0] if image.shape[2] == 1 else image)
    buffer = io.BytesIO()
    pil.save(buffer, format="JPEG", quality=quality, subsampling=2)  # 2 = 4:2:0
    return buffer.getvalue()


def _decode_pillow(data: bytes, channels: int) -> np.ndarray:
    from PIL import Image

    pil = Image.open(io.BytesIO(data))
    array = np.asarray(pil.convert("L" if channels == 1 else "RGB"))
    return array[:, :, None] if channels == 1 else array


def backend_functions(
    backend: str,
) -> tuple[Callable[[np.ndarray, int], bytes], Callable[[bytes, int], np.ndarray]]:
    if backend == "simplejpeg":
        return _encode_simplejpeg, _decode_simplejpeg
    return _encode_pillow, _decode_pillow
