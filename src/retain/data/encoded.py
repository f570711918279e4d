"""A split whose images stay encoded: JPEG rows of a packed cache, decoded per batch by threads.

`EncodedImages` stands where an in-memory split holds its uint8 tensor. Indexed like that
tensor (`images[indices]`, `index_select`), it gives the evaluation view of each image —
Resize(short side = `resize`) then CenterCrop(`side`) — so evaluation, herding and the memory's
exemplar rows see the same `side`×`side` images as with an in-memory dataset. Training asks for
`crops(indices, boxes)`: each image cut to its box (a RandomResizedCrop drawn by the augmenter)
and resized to `side`×`side` while decoding.

Decoding runs on a thread pool: Pillow releases the GIL while it decodes and resizes, so threads
scale over cores without copying the mapped cache into worker processes. When a box is at least
twice the output side, libjpeg decodes at 1/2, 1/4 or 1/8 scale in the DCT domain (`draft`).
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import torch
from PIL import Image

from retain.data.encoded_cache import PackedCache
from retain.jpeg import open_reduced

Box = tuple[float, float, float, float]  # top, left, height, width in source pixels


def default_workers() -> int:
    """Every core this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def center_box(height: int, width: int, side: int, resize: int) -> Box:
    """Resize(short side = `resize`) then CenterCrop(`side`) as a box of the source image
    (torchvision's sizes: long side int(resize · long / short), crop at round((resized − side) / 2))."""
    short, long = min(height, width), max(height, width)
    resized_long = math.floor(resize * long / short)
    h_r, w_r = (resize, resized_long) if height <= width else (resized_long, resize)
    ky, kx = height / h_r, width / w_r
    return (round((h_r - side) / 2) * ky, round((w_r - side) / 2) * kx, side * ky, side * kx)


def render(data: bytes, side: int, box: Box | None, resize: int, draft: bool = True) -> np.ndarray:
    """3×side×side uint8: the `box` of an encoded image (None: its evaluation view) resized to side×side.

    With `draft`, the image is decoded at the smallest DCT scale that keeps the box at least
    `side` pixels on each side."""
    image = open_reduced(data)
    width, height = image.size
    top, left, box_h, box_w = box if box is not None else center_box(height, width, side, resize)
    if draft:
        image.draft("RGB", (math.ceil(width * side / box_w), math.ceil(height * side / box_h)))
    sx, sy = image.size[0] / width, image.size[1] / height
    rgb = image.convert("RGB")
    area = (left * sx, top * sy, (left + box_w) * sx, (top + box_h) * sy)
    out = rgb.resize((side, side), Image.Resampling.BILINEAR, box=area, reducing_gap=None)
    return np.asarray(out).transpose(2, 0, 1)


class EncodedImages:
    """The images of one split as rows of a packed JPEG cache, seen as uint8 N×3×side×side.

    `rows` are the split's rows of the cache; `device` is where decoded batches are put. The
    decode pool has `workers` threads (shared by every split of the same cache)."""

    dtype = torch.uint8

    def __init__(self, cache: PackedCache, rows: np.ndarray, side: int, resize: int, workers: int,
                 device: torch.device | str = "cpu", draft: bool = True, pool: ThreadPoolExecutor | None = None) -> None:
        self.cache, self.rows, self.side, self.resize = cache, np.asarray(rows, dtype=np.int64), side, resize
        self.workers, self.draft = workers, draft
        self.device = torch.device(device)
        self.pool = pool or ThreadPoolExecutor(workers, thread_name_prefix="retain-decode")

    # ------------------------------------------------------------------ tensor-like surface
    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self.rows), 3, self.side, self.side))

    def __len__(self) -> int:
        return len(self.rows)

    def dim(self) -> int:
        return 4

    def to(self, device: torch.device | str) -> EncodedImages:
        """The same images, decoded batches put on `device`."""
        return EncodedImages(self.cache, self.rows, self.side, self.resize, self.workers, device, self.draft, self.pool)

    def __getitem__(self, key: Any) -> torch.Tensor:
        if isinstance(key, int):
            return self.views(torch.tensor([key]))[0]
        if isinstance(key, slice):
            return self.views(torch.arange(len(self))[key])
        return self.views(torch.as_tensor(key))

    def index_select(self, dim: int, indices: torch.Tensor) -> torch.Tensor:
        if dim != 0:
            raise ValueError("encoded images are selected along the first dimension only")
        return self.views(indices)

    def numpy(self) -> np.ndarray:
        """Every image's evaluation view (for small splits: statistics, tests)."""
        return self.views(torch.arange(len(self))).numpy()

    # ------------------------------------------------------------------ decoding
    def sizes(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(heights, widths) of the stored images at `indices` (CPU int64)."""
        table = self.cache.index[self.rows[indices.cpu().numpy()]]
        return torch.from_numpy(table[:, 2].copy()), torch.from_numpy(table[:, 3].copy())

    def views(self, indices: torch.Tensor) -> torch.Tensor:
        """The evaluation views at `indices`, uint8 N×3×side×side on the device."""
        return self.crops(indices, None)

    def crops(self, indices: torch.Tensor, boxes: torch.Tensor | None) -> torch.Tensor:
        """Each image at `indices` cut to its box (N×4 top, left, height, width in stored pixels;
        None: the evaluation view) and resized to side×side, decoded in parallel."""
        picked = self.rows[indices.cpu().numpy().reshape(-1)]
        out = np.empty((len(picked), 3, self.side, self.side), dtype=np.uint8)
        box_list = None if boxes is None else boxes.cpu().double().tolist()

        def decode(part: range) -> None:
            for i in part:
                box = None if box_list is None else tuple(box_list[i])
                out[i] = render(self.cache.row(int(picked[i])), self.side, box, self.resize, self.draft)

        step = max(1, -(-len(picked) // self.workers))
        list(self.pool.map(decode, [range(s, min(s + step, len(picked))) for s in range(0, len(picked), step)]))
        return torch.from_numpy(out).to(self.device)
