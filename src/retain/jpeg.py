"""The one JPEG codec of retain: encode and decode H×W×C uint8 arrays (simplejpeg or Pillow).

Both the memory's JPEG rows (`retain.memory.codecs.jpeg`) and the encoded dataset cache
(`retain.data.encoded`) encode and decode through these functions, so an exemplar taken from an
encoded dataset and stored as a JPEG row is decoded by the same code as the dataset itself.

Both backends use libjpeg's accurate integer DCT and fancy upsampling, so either decodes a file
to the same pixels (to within one grey level: each library bundles its own libjpeg build), and
encoding uses 4:2:0 chroma subsampling for colour images. `open_reduced` decodes with libjpeg's
DCT-domain downscaling (1/2, 1/4, 1/8) when only a smaller image is needed.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
from PIL import Image

try:
    import simplejpeg
except ImportError:  # pragma: no cover - depends on the platform wheel
    simplejpeg = None

BACKENDS = ("simplejpeg", "pillow")


def default_backend() -> str:
    """simplejpeg where its wheel is installed, else Pillow."""
    return "simplejpeg" if simplejpeg is not None else "pillow"


def available(backend: str) -> bool:
    """Whether `backend` can be used on this machine."""
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


def encode_pillow(image: np.ndarray | Image.Image, quality: int) -> bytes:
    """JPEG file of an H×W×C uint8 array (or a PIL image), 4:2:0 chroma for colour."""
    pil = image if isinstance(image, Image.Image) else Image.fromarray(image[:, :, 0] if image.shape[2] == 1 else image)
    buffer = io.BytesIO()
    pil.save(buffer, format="JPEG", quality=quality, subsampling=2)  # 2 = 4:2:0
    return buffer.getvalue()


def _decode_pillow(data: bytes, channels: int) -> np.ndarray:
    array = np.asarray(open_reduced(data, channels).convert("L" if channels == 1 else "RGB"))
    return array[:, :, None] if channels == 1 else array


def open_reduced(data: bytes, channels: int = 3, at_least: tuple[int, int] | None = None) -> Image.Image:
    """A PIL image of a JPEG file, decoded at full size, or — with `at_least` = (width, height) —
    at the smallest DCT scale (1, 1/2, 1/4, 1/8) still at least that large (`Image.draft`)."""
    pil = Image.open(io.BytesIO(data))
    if at_least is not None:
        pil.draft("L" if channels == 1 else "RGB", at_least)
    return pil


def backend_functions(
    backend: str,
) -> tuple[Callable[[np.ndarray, int], bytes], Callable[[bytes, int], np.ndarray]]:
    """(encode(array, quality) -> bytes, decode(bytes, channels) -> H×W×C array) of a backend."""
    if backend == "simplejpeg":
        return _encode_simplejpeg, _decode_simplejpeg
    return encode_pillow, _decode_pillow
