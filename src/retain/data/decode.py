"""Decode a list of image files once with Pillow, then reuse uint8 `.npy` arrays from the cache
(also used for any dataset whose loading is slow, e.g. scikit-learn's digits)."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image, UnidentifiedImageError

from retain.data.base import ImageSplit
from retain.data.cache import dataset_cache_dir
from retain.errors import DatasetError

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp"})  # compared lower-case: .JPEG too


@dataclass
class FolderListing:
    """The labelled image files of a dataset on disk, before decoding."""

    root: Path
    class_names: list[str]
    train: list[tuple[Path, int]]
    test: list[tuple[Path, int]]
    extra_files: list[Path] = field(default_factory=list)  # annotation files the labels come from


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS and path.is_file()


def fingerprint(listing: FolderListing, image_size: tuple[int, int] | None) -> dict[str, object]:
    """A cheap identity of the file list (paths, labels, sizes, mtimes); no file is read."""
    digest = hashlib.sha256(json.dumps([listing.class_names, image_size]).encode())
    count = total_bytes = 0
    entries = [("train", p, y) for p, y in listing.train] + [("test", p, y) for p, y in listing.test]
    entries += [("extra", p, -1) for p in listing.extra_files]
    for split, path, label in entries:
        stat = path.stat()
        count += 1
        total_bytes += stat.st_size
        relative = os.path.relpath(path, listing.root)
        digest.update(f"{split}\0{relative}\0{label}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return {"files": count, "bytes": total_bytes, "sha256": digest.hexdigest()}


def load_decoded(name: str, listing: FolderListing, image_size: tuple[int, int] | None,
                 variant: str = "") -> tuple[ImageSplit, ImageSplit]:
    """Train and test splits of `listing`, decoded once and cached under `<cache>/<name>/`.

    The cache is keyed by the folder's absolute path, the requested size and `variant` (what
    else selects the files, e.g. a class list: two selections from one folder keep two caches);
    its fingerprint must match the current file list, so adding, removing or touching a file re-decodes.
    """
    suffix = f"|{variant}" if variant else ""
    key = hashlib.sha256(f"{listing.root.resolve()}|{image_size}{suffix}".encode()).hexdigest()[:16]

    def decode() -> tuple[ImageSplit, ImageSplit]:
        shape = image_size or _first_size(listing)
        train = ImageSplit.from_numpy(decode_images([p for p, _ in listing.train], shape, image_size is not None),
                                      np.array([y for _, y in listing.train], dtype=np.int64))
        test = ImageSplit.from_numpy(decode_images([p for p, _ in listing.test], shape, image_size is not None),
                                     np.array([y for _, y in listing.test], dtype=np.int64))
        return train, test

    meta = {"root": str(listing.root.resolve()), "class_names": listing.class_names}
    return cached_splits(name, key, fingerprint(listing, image_size), decode, meta)


def cached_splits(
    name: str,
    key: str,
    identity: dict[str, object],
    build: Callable[[], tuple[ImageSplit, ImageSplit]],
    meta: dict[str, object] | None = None,
    required: bool = True,
) -> tuple[ImageSplit, ImageSplit]:
    """Train and test splits built once by `build` and kept as uint8 `.npy` arrays in
    `<cache>/<name>/decoded-<key>/`; reused while `identity` (what they were built from) is
    unchanged. With `required=False` a cache that cannot be written is skipped silently."""
    folder = dataset_cache_dir(name) / f"decoded-{key}"
    cached = _read_cache(folder, identity)
    if cached is not None:
        return cached
    train, test = build()
    try:
        _write_cache(folder, identity, meta or {}, train, test)
    except OSError:
        if required:
            raise
    return train, test


def decode_images(paths: list[Path], size: tuple[int, int], resize: bool) -> np.ndarray:
    """RGB uint8 array (N, 3, H, W); every image must be H×W unless `resize` is set."""
    height, width = size
    out = np.empty((len(paths), 3, height, width), dtype=np.uint8)
    for i, path in enumerate(paths):
        image = _open_rgb(path)
        if image.size != (width, height):
            if not resize:
                raise DatasetError(
                    f"Image {path} is {image.size[0]}×{image.size[1]} (W×H) but the dataset's images "
                    f"are {width}×{height}. All images must share one size; set the option "
                    "image_size to resize them."
                )
            image = image.resize((width, height), Image.Resampling.BILINEAR)
        out[i] = np.asarray(image).transpose(2, 0, 1)
    return out


def _open_rgb(path: Path) -> Image.Image:
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except (UnidentifiedImageError, OSError) as error:
        raise DatasetError(f"Cannot decode image {path}: {error}. Remove or replace the file.") from error


def _first_size(listing: FolderListing) -> tuple[int, int]:
    first = (listing.train or listing.test)[0][0]
    width, height = _open_rgb(first).size
    return height, width


_ARRAYS = ("train_images", "train_labels", "test_images", "test_labels")


def _read_cache(folder: Path, expected: dict[str, object]) -> tuple[ImageSplit, ImageSplit] | None:
    try:
        meta = json.loads((folder / "meta.json").read_text())
        if meta.get("fingerprint") != expected:
            return None
        arrays = {name: np.load(folder / f"{name}.npy", allow_pickle=False) for name in _ARRAYS}
        return (ImageSplit.from_numpy(arrays["train_images"], arrays["train_labels"]),
                ImageSplit.from_numpy(arrays["test_images"], arrays["test_labels"]))
    except (OSError, ValueError):  # missing, partial or foreign cache: decode again
        return None


def _write_cache(folder: Path, expected: dict[str, object], meta: dict[str, object], train: ImageSplit, test: ImageSplit) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    # meta.json is the commit marker: removed first, written last.
    (folder / "meta.json").unlink(missing_ok=True)
    arrays = {"train_images": train.images, "train_labels": train.labels,
              "test_images": test.images, "test_labels": test.labels}
    for name, tensor in arrays.items():
        _atomic_write(folder / f"{name}.npy", lambda handle, t=tensor: np.save(handle, t.numpy(), allow_pickle=False))
    meta = {**meta, "fingerprint": expected}
    _atomic_write(folder / "meta.json", lambda handle: handle.write(json.dumps(meta, indent=1).encode()))


def _atomic_write(dest: Path, write: Callable[[IO[bytes]], object]) -> None:
    handle = tempfile.NamedTemporaryFile(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part", delete=False)
    try:
        with handle:
            write(handle)
        os.replace(handle.name, dest)
    finally:
        Path(handle.name).unlink(missing_ok=True)
