"""How a folder dataset is held: decoded into uint8 tensors, or kept as a packed JPEG cache.

Every folder source (imagefolder, tiny-imagenet, imagenet, a user's own) lists its files as a
`FolderListing` and calls `load_listing`, which honours `data.storage`:

* `memory`: every image decoded once (and cached as .npy); with `data.image_size` each is its
  evaluation view, Resize(short side = eval_resize) + CenterCrop(image_size);
* `encoded`: a packed JPEG cache (data/encoded_cache.py) decoded per batch (data/encoded.py);
* `auto`: memory when the decoded images fit in a quarter of the machine's RAM, else encoded.
"""

from __future__ import annotations

import hashlib
import os

import numpy as np
import torch

from retain.data.base import ImageSplit, LoadRequest, channel_stats
from retain.data.decode import FolderListing, cached_splits, fingerprint, load_decoded
from retain.data.encoded import EncodedImages, default_workers, render
from retain.data.encoded_cache import open_or_build
from retain.errors import ConfigError, DatasetError

RAM_SHARE = 4          # auto: memory when the decoded images take at most 1/RAM_SHARE of the RAM
STATS_SAMPLE = 512     # encoded: mean/std from this many evenly spaced training images (±0.005 or so)


def load_listing(request: LoadRequest, listing: FolderListing) -> tuple[ImageSplit, ImageSplit, list[str]]:
    """Train and test splits of `listing` held as `request.storage` asks, and a log line saying how and why."""
    storage, reason = choose_storage(request, listing)
    if storage == "encoded":
        return (*encoded_splits(request, listing), f"data.storage={request.storage}: encoded JPEG cache ({reason})")
    note = f"data.storage={request.storage}: decoded in memory ({reason})"
    if request.side is None:
        return (*load_decoded(request.name, listing, request.image_size), note)
    return (*view_splits(request, listing), note)


def choose_storage(request: LoadRequest, listing: FolderListing) -> tuple[str, str]:
    """("memory" or "encoded", the reason in words)."""
    images = len(listing.train) + len(listing.test)
    if request.storage == "memory":
        return "memory", "forced"
    if request.side is None:
        if request.storage == "encoded":
            raise ConfigError(
                f"data.storage = encoded needs data.image_size (the side of the square images training and evaluation "
                f"see, e.g. 224) for dataset {request.name!r}: encoded images keep their own sizes until a batch is cut "
                "from them. Set data.image_size, or data.storage = memory."
            )
        return "memory", "data.image_size unset: images kept at their own size"
    if request.storage == "encoded":
        return "encoded", "forced"
    decoded = images * 3 * request.side**2
    limit = _ram_bytes() // RAM_SHARE
    if decoded <= limit:
        return "memory", f"{images} images at {request.side}×{request.side} take {decoded / 2**30:.2f} GiB decoded, within 1/{RAM_SHARE} of the RAM ({limit / 2**30:.1f} GiB)"
    return "encoded", f"{images} images at {request.side}×{request.side} would take {decoded / 2**30:.1f} GiB decoded, over 1/{RAM_SHARE} of the RAM ({limit / 2**30:.1f} GiB)"


def _ram_bytes() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return 8 << 30


def encoded_splits(request: LoadRequest, listing: FolderListing) -> tuple[ImageSplit, ImageSplit]:
    """Train and test splits over the packed JPEG cache of `listing` (built on first use)."""
    side, resize = request.side, request.eval_resize or request.side
    if request.max_side < resize:
        raise ConfigError(
            f"data.max_side = {request.max_side} is below the evaluation resize {resize} (augment.eval_resize, else "
            f"data.image_size): the cache would store images smaller than the evaluation view and every image would be "
            f"enlarged. Set data.max_side >= {resize}."
        )
    workers = request.workers or default_workers()
    cache = open_or_build(request.name, listing, request.max_side, workers)
    if cache.class_names != listing.class_names:
        raise DatasetError(f"The encoded cache {cache.folder} names classes {cache.class_names[:5]}..., the folder "
                           f"{listing.root} {listing.class_names[:5]}...; delete {cache.folder} to rebuild it.")
    train_rows, rows = np.arange(cache.train_rows), np.arange(cache.train_rows, len(cache.index))
    train_images = EncodedImages(cache, train_rows, side, resize, workers)
    test_images = EncodedImages(cache, rows, side, resize, workers, pool=train_images.pool)
    labels = torch.from_numpy(cache.index[:, 4].copy())
    return ImageSplit(train_images, labels[: cache.train_rows]), ImageSplit(test_images, labels[cache.train_rows :])


def view_splits(request: LoadRequest, listing: FolderListing) -> tuple[ImageSplit, ImageSplit]:
    """Train and test splits decoded into memory as evaluation views (cached as .npy)."""
    side, resize = request.side, request.eval_resize or request.side
    key = hashlib.sha256(f"{listing.root.resolve()}|view|{side}|{resize}".encode()).hexdigest()[:16]

    def decode() -> tuple[ImageSplit, ImageSplit]:
        return tuple(ImageSplit.from_numpy(_views([p for p, _ in items], side, resize), np.array([y for _, y in items], dtype=np.int64))
                     for items in (listing.train, listing.test))

    meta = {"root": str(listing.root.resolve()), "class_names": listing.class_names, "side": side, "resize": resize}
    return cached_splits(request.name, key, fingerprint(listing, (side, resize)), decode, meta)


def _views(paths: list, side: int, resize: int) -> np.ndarray:
    out = np.empty((len(paths), 3, side, side), dtype=np.uint8)
    for i, path in enumerate(paths):
        try:
            out[i] = render(path.read_bytes(), side, None, resize)
        except OSError as error:
            raise DatasetError(f"Cannot decode image {path}: {error}. Remove or replace the file.") from error
    return out


def split_stats(split: ImageSplit) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of a split's images (of an even sample when they stay encoded)."""
    if not split.is_encoded:
        return channel_stats(split.images)
    n = len(split)
    picked = torch.from_numpy(np.unique(np.linspace(0, n - 1, min(n, STATS_SAMPLE)).astype(np.int64)))
    return channel_stats(split.images.views(picked).cpu())
