"""Datasets by name: `register_dataset` and `load_dataset`.

A dataset source is a function `loader(request: LoadRequest, *, option=default, ...)` that
returns a `Dataset` (uint8 images N×C×H×W, int64 labels) or just the four arrays
`(train_images, train_labels, test_images, test_labels)`, from which retain makes one (class
names "0", "1", …, per-channel mean and std of the training images). Its keyword-only
parameters are the options a user may set in `data.options`. Every built-in source registers
through this same door (`retain.register_dataset`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from retain.config.options import check_options
from retain.data.base import Dataset, ImageSplit, LoadRequest, channel_stats
from retain.errors import ConfigError, DatasetError
from retain.registry import Registry

L = TypeVar("L", bound=Callable[..., Any])


@dataclass(frozen=True)
class DatasetEntry:
    """A registered dataset source and what is known about it without loading it."""

    name: str
    loader: Callable[..., Any]
    image_shape: tuple[int, int, int] | None  # (C, H, W), when fixed: dry runs and budget tables need no files
    num_classes: int | None
    resizable: bool                            # accepts load_dataset(image_size=...)
    split_sizes: tuple[int, int] | None = None  # (train, test) images of the declared classes: time forecasts without files
    classes: Callable[..., list[str]] | None = None  # data.options -> the class names they select, without files
    dry_run_loads: bool = True                 # False: `--dry-run` never reads the files (too large to load for a preview)
    reads: frozenset[str] | None = None        # the data.* settings the source reads (READABLE); None: all of them


READABLE = ("dir", "download", "mirror", "path")  # the data.* settings a source may read besides name and options


_DATASETS: Registry[DatasetEntry] = Registry("dataset", "data.name")


def register_dataset(
    name: str,
    *,
    image_shape: Sequence[int] | None = None,
    num_classes: int | None = None,
    resizable: bool = False,
    split_sizes: Sequence[int] | None = None,
    classes: Callable[..., list[str]] | None = None,
    dry_run_loads: bool = True,
    reads: Sequence[str] | None = None,
) -> Callable[[L], L]:
    """Decorator: make a loader available as `data.name: name`.

    The loader receives a `LoadRequest` (data_dir, path, download, mirror, image_size) and the
    `data.options` as keyword arguments, and returns a `Dataset` or the tuple
    `(train_images, train_labels, test_images, test_labels)` of uint8 N×C×H×W images and integer
    labels 0..K-1 (tensors or numpy arrays). Give `image_shape` (C, H, W) and `num_classes` when
    they are fixed, so that `retain run --dry-run` and `retain budget` need not load the data;
    `split_sizes` (train, test images of those classes) lets the dry run forecast the time without
    them; `classes(**options)` returns the class names that `data.options` select (a dataset whose
    options pick a subset, e.g. `imagenet`'s class list). `dry_run_loads=False` keeps
    `retain run --dry-run` from reading the files at all (ImageNet: hours to decode).
    `reads` names the data.* settings the loader reads (of "dir", "download", "mirror", "path"):
    a user's value for another one is refused, since it would change nothing. Left out, the
    loader may read them all. Registering another loader under a taken name is an error.
    """
    key = normalize_name(name)
    if reads is not None and (isinstance(reads, str) or not set(reads) <= set(READABLE)):
        raise ValueError(f"register_dataset({name!r}): reads must be a list of {', '.join(READABLE)}; got {reads!r}")
    shape = tuple(int(s) for s in image_shape) if image_shape is not None else None
    if shape is not None and len(shape) != 3:
        raise ValueError(f"register_dataset({name!r}): image_shape must be (channels, height, width), got {image_shape!r}")

    def decorate(loader: L) -> L:
        sizes = tuple(int(n) for n in split_sizes) if split_sizes is not None else None
        entry = DatasetEntry(key, loader, shape, num_classes, resizable, sizes, classes, dry_run_loads,
                             frozenset(reads) if reads is not None else None)
        _DATASETS.add(key, entry, definition=loader)
        return loader

    return decorate


def normalize_name(name: str) -> str:
    """Dataset names are matched without case and surrounding spaces."""
    return name.strip().lower() if isinstance(name, str) else name


def dataset_names() -> list[str]:
    """Every registered dataset name (built-in and plugin), in registration order."""
    return _DATASETS.names()


def dataset_entry(name: str) -> DatasetEntry:
    """The entry registered as `name`; unknown names raise a ConfigError naming data.name."""
    return _DATASETS.get(normalize_name(name))


def declared_geometry(name: str, options: dict[str, Any] | None = None) -> tuple[tuple[int, int, int], int] | None:
    """((C, H, W), classes) given at registration, or None when the data must be loaded to know;
    the classes that `options` (data.options) select when the source says which."""
    entry = dataset_entry(name)
    if entry.image_shape is None or entry.num_classes is None:
        return None
    names = declared_class_names(name, options)
    return entry.image_shape, len(names) if names is not None else entry.num_classes


def declared_class_names(name: str, options: dict[str, Any] | None = None) -> list[str] | None:
    """The class names `options` select, for a source that can say without its files (else None)."""
    entry = dataset_entry(name)
    if entry.classes is None:
        return None
    options = dict(options or {})
    check_options("Dataset", entry.name, entry.loader, options, "data.options")
    return entry.classes(**options)


def declared_train_test_sizes(name: str, options: dict[str, Any] | None = None) -> tuple[float, float] | None:
    """(train, test) images per class on average, from the registration, or None when not declared."""
    entry = dataset_entry(name)
    if entry.split_sizes is None or not entry.num_classes:
        return None
    return entry.split_sizes[0] / entry.num_classes, entry.split_sizes[1] / entry.num_classes


def load_dataset(
    name: str,
    data_dir: str | Path | None = None,
    download: bool = True,
    *,
    mirror: str | None = None,
    image_size: int | tuple[int, int] | None = None,
    path: str | Path | None = None,
    options: dict[str, Any] | None = None,
    side: int | None = None,
    eval_resize: int | None = None,
    storage: str = "memory",
    max_side: int = 256,
    workers: int | None = None,
) -> Dataset:
    """Load dataset `name` (see `dataset_names()`) on the CPU.

    Files are looked for in `data_dir`, `data_dir/<name>/`, system folders and the cache
    (`$RETAIN_DATA`, default `~/.cache/retain`); missing files are downloaded into the cache
    when `download` is true, from `mirror` (or `$RETAIN_DATA_MIRROR`, laid out as
    `<mirror>/<name>/<file>`) instead of the official site when given. `image_size` (side or
    (height, width)) resizes folder datasets whose images differ in size. `path` is the
    location for sources that read one (`hf`), and `options` the source's own settings.

    Folder sources (imagefolder, tiny-imagenet, imagenet) also take `side` (square images of
    this side: the evaluation view Resize(short side = `eval_resize`, default `side`) +
    CenterCrop(`side`)) and `storage` ("memory", "encoded" or "auto"; an encoded split's
    images are a packed JPEG cache with short sides capped at `max_side`, decoded by
    `workers` threads): see docs/data.md.
    """
    entry = dataset_entry(name)
    options = dict(options or {})
    check_options("Dataset", entry.name, entry.loader, options, "data.options")
    folder = checked_data_dir(entry.name, data_dir)
    request = LoadRequest(
        name=entry.name,
        data_dir=folder,
        download=download,
        mirror=mirror,
        image_size=_image_size(entry, image_size),
        path=Path(path).expanduser() if path is not None else None,
        side=_side(entry, side, storage),
        eval_resize=eval_resize,
        storage=storage,
        max_side=max_side,
        workers=workers,
    )
    dataset = as_dataset(entry.name, entry.loader(request, **options))
    if request.image_size is None and request.side is None:  # a resized dataset has the size asked for, not the declared one
        _check_declared(entry, dataset, options)
    return dataset


def checked_data_dir(name: str, data_dir: str | Path | None) -> Path | None:
    """`data_dir` as a Path; a DatasetError when it is given but is no folder."""
    folder = Path(data_dir).expanduser() if data_dir is not None else None
    if folder is not None and not folder.is_dir():
        # Never fall back silently to another copy (a system folder, the cache) when the given one is missing.
        raise DatasetError(
            f"data.dir = {str(data_dir)!r} {'is a file, not a folder' if folder.exists() else 'does not exist'}; "
            f"give the folder holding the {name!r} files, or leave data.dir unset to use the default locations "
            "(system folders, the cache, a download)."
        )
    return folder


def as_dataset(name: str, loaded: Any) -> Dataset:
    """`loaded` as a Dataset: a Dataset as is, or the 4-tuple of train/test images and labels wrapped."""
    if isinstance(loaded, Dataset):
        return loaded
    if not isinstance(loaded, (tuple, list)) or len(loaded) != 4:
        raise DatasetError(
            f"The loader of dataset {name!r} returned {type(loaded).__name__}; it must return a retain Dataset "
            "or the tuple (train_images, train_labels, test_images, test_labels)."
        )
    return dataset_from_arrays(name, *loaded)


def dataset_from_arrays(
    name: str,
    train_images: torch.Tensor | np.ndarray,
    train_labels: torch.Tensor | np.ndarray,
    test_images: torch.Tensor | np.ndarray,
    test_labels: torch.Tensor | np.ndarray,
    class_names: Sequence[str] | None = None,
) -> Dataset:
    """A Dataset from uint8 images N×C×H×W and integer labels 0..K-1; mean and std from the training images.

    A DatasetError names what is wrong with the arrays (dtype, shape, label range).
    """
    splits = []
    for split, images, labels in (("train", train_images, train_labels), ("test", test_images, test_labels)):
        images = torch.as_tensor(images)
        labels = torch.as_tensor(labels)
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise DatasetError(
                f"Dataset {name!r}: {split} images must be uint8 with shape (N, C, H, W); got {images.dtype} "
                f"with shape {tuple(images.shape)}. Scale to 0..255 and convert with .to(torch.uint8) "
                "(numpy: .astype(np.uint8)), and put channels first."
            )
        if labels.dim() != 1 or labels.dtype.is_floating_point or labels.dtype == torch.bool or len(labels) != len(images):
            raise DatasetError(
                f"Dataset {name!r}: {split} labels must be integers of shape ({len(images)},); got {labels.dtype} "
                f"with shape {tuple(labels.shape)}."
            )
        splits.append(ImageSplit(images.contiguous(), labels.to(torch.int64)))
    train, test = splits
    if not len(train):
        raise DatasetError(f"Dataset {name!r} has no training images.")
    if not len(test):
        raise DatasetError(f"Dataset {name!r} has no test images; every task is evaluated on the test split, so the "
                           "loader must return test images and labels too.")
    _check_image_layout(name, tuple(train.images.shape[1:]))
    num_classes = len(class_names) if class_names is not None else int(max(train.labels.max(), test.labels.max())) + 1
    for split in splits:
        if len(split) and (split.labels.min() < 0 or split.labels.max() >= num_classes):
            raise DatasetError(
                f"Dataset {name!r} has labels from {int(split.labels.min())} to {int(split.labels.max())}; "
                f"expected 0 to {num_classes - 1}."
            )
    mean, std = channel_stats(train.images)
    names = list(class_names) if class_names is not None else [str(c) for c in range(num_classes)]
    try:
        return Dataset(name, train, test, names, mean, std)
    except ValueError as error:
        raise DatasetError(str(error)) from None


def _check_image_layout(name: str, shape: tuple[int, ...]) -> None:
    """Images channels first and square, as every backbone is built (models/registry.py): a
    channels-last array or a rectangle would be read as other images and fail inside training."""
    channels, height, width = shape
    if channels not in (1, 3, 4) and width in (1, 3, 4):
        raise DatasetError(
            f"Dataset {name!r}: the images have shape {shape}, which reads as {channels} channels of {height}x{width}; "
            f"they look channels-last (N, H, W, C). Put channels first: images.transpose(0, 3, 1, 2) (numpy) or "
            ".permute(0, 3, 1, 2) (torch)."
        )
    if height != width:
        raise DatasetError(
            f"Dataset {name!r}: the images are {height}x{width} (height x width); retain's backbones take square "
            "images: resize, crop or pad them to a square in the loader."
        )


def _check_declared(entry: DatasetEntry, dataset: Dataset, options: dict[str, Any]) -> None:
    """Refuse images of another shape than the registration declares (the dry run, the budget in
    images and the backbone were sized for it), labels outside the declared classes, and another
    number of classes than declared (the dry run and the budget forecast from the registration; a
    folder source may hold a subset: warned)."""
    loaded = tuple(dataset.image_shape)
    declared_classes = len(entry.classes(**options)) if entry.classes is not None else entry.num_classes
    if entry.image_shape is not None and tuple(entry.image_shape) != loaded:
        raise DatasetError(
            f"Dataset {entry.name!r} declares images of shape {tuple(entry.image_shape)} (channels, height, width), but "
            f"the files loaded hold images of shape {loaded} ({len(dataset.train)} training images); give files of the "
            "declared size (a budget in images and the backbone are sized for it)."
        )
    if declared_classes is None:
        return
    declared = int(declared_classes)
    for split_name, split in (("train", dataset.train), ("test", dataset.test)):
        outside = split.labels[(split.labels >= declared) | (split.labels < 0)]
        if outside.numel():
            values, counts = torch.unique(outside, return_counts=True)
            shown = ", ".join(f"label {int(v)} on {int(c)} row(s)" for v, c in list(zip(values, counts))[:5])
            raise DatasetError(
                f"Dataset {entry.name!r} declares num_classes={declared} (register_dataset), so labels lie in "
                f"0..{declared - 1}, but its {split_name} split has {shown}{' and more' if len(values) > 5 else ''}. "
                f"Fix the loader's labels, or declare the number of classes it returns."
            )
    if dataset.num_classes != declared and entry.resizable:  # a folder source: its copy may hold a subset
        warnings.warn(
            f"Dataset {entry.name!r} was registered with image_shape={entry.image_shape}, num_classes={declared}, but "
            f"the data loaded have num_classes={dataset.num_classes}; the run uses the loaded data, but `retain run "
            "--dry-run` and `retain budget` forecast from the registration.",
            stacklevel=3,
        )
    elif dataset.num_classes != declared:
        found = torch.unique(dataset.train.labels).numel()
        raise DatasetError(
            f"Dataset {entry.name!r} declares num_classes={declared} (register_dataset), but its loader returned "
            f"{dataset.num_classes} classes ({found} with training rows); the dry run, the budget and the plan would "
            f"disagree. Declare num_classes={dataset.num_classes}, or return every declared class."
        )


def _side(entry: DatasetEntry, side: int | None, storage: str) -> int | None:
    """data.image_size for a source that takes it: folder sources (resizable); a fixed-size source only at its own size."""
    fixed = entry.image_shape is not None and not entry.resizable
    if storage == "encoded" and fixed:
        raise ConfigError(f"data.storage = encoded keeps folder datasets (imagefolder, tiny-imagenet, imagenet) as JPEG "
                          f"files; dataset {entry.name!r} is held in memory: set data.storage = auto or memory.")
    if side is None or not fixed:
        return side
    if entry.image_shape[1:] != (side, side):
        raise ConfigError(f"data.image_size = {side} was given for dataset {entry.name!r}, whose images are "
                          f"{entry.image_shape[1]}×{entry.image_shape[2]}; data.image_size applies to folder datasets "
                          "(imagefolder, tiny-imagenet, imagenet). Leave it unset.")
    return None


def _image_size(entry: DatasetEntry, image_size: int | tuple[int, int] | None) -> tuple[int, int] | None:
    if image_size is None:
        return None
    if not entry.resizable:
        resizable = [name for name, e in _DATASETS.items() if e.resizable]
        raise ConfigError(
            f"image_size={image_size!r} was given for dataset {entry.name!r}, whose images have a fixed "
            f"size; image_size applies only to {', '.join(resizable)}."
        )
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    if len(size) != 2 or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in size):
        raise ConfigError(
            f"image_size={image_size!r} is not allowed; give a positive int or a (height, width) "
            "pair of positive ints."
        )
    return size
