"""Datasets as uint8 tensors: sources, download with checksums, and the cache directory.

`load_dataset(name, data_dir=None, download=True)` returns a `Dataset` whose splits hold
uint8 images N×C×H×W and int64 labels.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from retain.data.base import Dataset, ImageSplit, LoadRequest, channel_stats
from retain.data.cache import cache_root
from retain.data.cifar import load_cifar
from retain.data.digits import load_digits
from retain.data.imagefolder import load_imagefolder
from retain.data.mnist import load_mnist_like
from retain.data.tinyimagenet import load_tiny_imagenet
from retain.errors import ConfigError, DatasetError, unknown_name

_LOADERS: dict[str, Callable[[LoadRequest], Dataset]] = {
    "digits": load_digits,
    "mnist": load_mnist_like,
    "fashion-mnist": load_mnist_like,
    "cifar10": load_cifar,
    "cifar100": load_cifar,
    "tiny-imagenet": load_tiny_imagenet,
    "imagefolder": load_imagefolder,
}
DATASET_NAMES: tuple[str, ...] = tuple(_LOADERS)
_RESIZABLE = ("tiny-imagenet", "imagefolder")


def load_dataset(
    name: str,
    data_dir: str | Path | None = None,
    download: bool = True,
    *,
    mirror: str | None = None,
    image_size: int | tuple[int, int] | None = None,
) -> Dataset:
    """Load dataset `name` (one of DATASET_NAMES) on the CPU.

    Files are looked for in `data_dir`, `data_dir/<name>/`, system folders and the cache
    (`$RETAIN_DATA`, default `~/.cache/retain`); missing files are downloaded into the cache
    when `download` is true, from `mirror` (or `$RETAIN_DATA_MIRROR`, laid out as
    `<mirror>/<name>/<file>`) instead of the official site when given. `image_size` (side or
    (height, width)) resizes folder datasets whose images differ in size.
    """
    key = name.strip().lower() if isinstance(name, str) else name
    if key not in _LOADERS:
        raise unknown_name("dataset", str(name), DATASET_NAMES)
    folder = Path(data_dir).expanduser() if data_dir is not None else None
    if folder is not None and not folder.is_dir():
        # Never fall back silently to another copy (a system folder, the cache) when the given one is missing.
        raise DatasetError(
            f"data.dir = {str(data_dir)!r} {'is a file, not a folder' if folder.exists() else 'does not exist'}; "
            f"give the folder holding the {key!r} files, or leave data.dir unset to use the default locations "
            "(system folders, the cache, a download)."
        )
    request = LoadRequest(
        name=key,
        data_dir=folder,
        download=download,
        mirror=mirror,
        image_size=_image_size(key, image_size),
    )
    return _LOADERS[key](request)


def _image_size(name: str, image_size: int | tuple[int, int] | None) -> tuple[int, int] | None:
    if image_size is None:
        return None
    if name not in _RESIZABLE:
        raise ConfigError(
            f"image_size={image_size!r} was given for dataset {name!r}, whose images have a fixed "
            f"size; image_size applies only to {', '.join(_RESIZABLE)}."
        )
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    if len(size) != 2 or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in size):
        raise ConfigError(
            f"image_size={image_size!r} is not allowed; give a positive int or a (height, width) "
            "pair of positive ints."
        )
    return size


__all__ = [
    "DATASET_NAMES",
    "Dataset",
    "ImageSplit",
    "cache_root",
    "channel_stats",
    "load_dataset",
]
