"""Hugging Face `datasets` as a source (`data.name: hf`): a dataset saved with `save_to_disk`, or a local folder.

Optional: needs `pip install 'retain[hf]'`; `datasets` is imported only when such a dataset is
loaded. Nothing is downloaded: `data.path` must be on disk. Images become uint8 N×C×H×W once,
like every other source; the image column may hold images (the `Image` feature) or arrays
H×W / H×W×C (C×H×W with the option `channels_first: true`), and the label column a
`ClassLabel`, integers 0..K-1 or strings (sorted names become the classes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from retain.data.base import Dataset, ImageSplit, LoadRequest, channel_stats
from retain.errors import ConfigError, DatasetError

INSTALL_HINT = "install it with `pip install 'retain[hf]'` (or `pip install datasets`)"
_CHUNK = 1024


def load_hf(
    request: LoadRequest,
    *,
    image_column: str = "image",
    label_column: str = "label",
    train_split: str = "train",
    test_split: str = "test",
    channels_first: bool = False,
) -> Dataset:
    """The `train_split` and `test_split` of the dataset at `data.path`, images and labels from the named columns."""
    if request.path is None:
        raise ConfigError(
            "data.name = 'hf' needs data.path: a folder written by Hugging Face `save_to_disk` (a DatasetDict "
            "with train and test splits) or a local folder of data files that `datasets.load_dataset` reads."
        )
    splits = _open(request.path)
    for option, split in (("train_split", train_split), ("test_split", test_split)):
        if split not in splits:
            raise DatasetError(
                f"Hugging Face dataset {str(request.path)!r} has no split {split!r} (data.options.{option}); "
                f"its splits are: {', '.join(sorted(splits))}."
            )
    train, test = splits[train_split], splits[test_split]
    for option, column in (("image_column", image_column), ("label_column", label_column)):
        if column not in train.column_names or column not in test.column_names:
            raise DatasetError(
                f"Hugging Face dataset {str(request.path)!r} has no column {column!r} in both splits "
                f"(data.options.{option}); its columns are: {', '.join(train.column_names)}."
            )
    class_names, train_labels, test_labels = _labels(train, test, label_column, str(request.path))
    size = request.image_size
    train_images = _images(train, image_column, size, channels_first, f"{request.path}[{train_split}]")
    test_images = _images(test, image_column, size, channels_first, f"{request.path}[{test_split}]")
    if train_images.shape[1:] != test_images.shape[1:]:
        raise DatasetError(
            f"Hugging Face dataset {str(request.path)!r}: train images are {train_images.shape[1:]} (C, H, W) "
            f"but test images {test_images.shape[1:]}; they must match."
        )
    mean, std = channel_stats(train_images)
    return Dataset(
        name=request.name,
        train=ImageSplit.from_numpy(train_images, train_labels),
        test=ImageSplit.from_numpy(test_images, test_labels),
        class_names=class_names,
        mean=mean,
        std=std,
    )


def _open(path: Path) -> Any:
    """The splits at `path` (a DatasetDict), from save_to_disk output or a folder of data files."""
    try:
        import datasets
    except ImportError:
        raise ConfigError(f"data.name = 'hf' needs the Hugging Face `datasets` package, which is not installed; {INSTALL_HINT}.") from None
    if not path.is_dir():
        raise DatasetError(
            f"data.path {str(path)!r} is not a folder; give a folder written by `save_to_disk` or a local "
            "folder of data files (nothing is downloaded)."
        )
    try:
        if (path / "dataset_dict.json").is_file() or (path / "state.json").is_file():
            loaded = datasets.load_from_disk(str(path))
        else:
            loaded = datasets.load_dataset(str(path))
    except Exception as error:  # the library's own errors are many; name the folder and the cause
        raise DatasetError(f"Hugging Face `datasets` could not read {str(path)!r}: {type(error).__name__}: {error}") from None
    if isinstance(loaded, datasets.Dataset):
        raise DatasetError(
            f"{str(path)!r} holds a single Hugging Face Dataset; retain needs a train and a test split: save a "
            "DatasetDict({'train': ..., 'test': ...}) instead (e.g. dataset.train_test_split(...).save_to_disk(path))."
        )
    return loaded


def _labels(train: Any, test: Any, column: str, where: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Class names and int64 labels of both splits: ClassLabel names, integers 0..K-1, or sorted strings."""
    feature = train.features[column]
    raw_train, raw_test = list(train[column]), list(test[column])
    if hasattr(feature, "names") and feature.names:
        names = list(feature.names)
        return names, np.asarray(raw_train, dtype=np.int64), np.asarray(raw_test, dtype=np.int64)
    values = raw_train + raw_test
    if all(isinstance(v, str) for v in values):
        names = sorted(set(values))
        index = {name: i for i, name in enumerate(names)}
        return names, np.array([index[v] for v in raw_train], dtype=np.int64), np.array([index[v] for v in raw_test], dtype=np.int64)
    if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        raise DatasetError(
            f"Hugging Face dataset {where!r}: label column {column!r} must hold a ClassLabel, integers or strings; "
            f"found {type(next(v for v in values if not isinstance(v, (int, np.integer, str)))).__name__} values."
        )
    labels = np.asarray(values, dtype=np.int64)
    if labels.min() < 0:
        raise DatasetError(f"Hugging Face dataset {where!r}: label column {column!r} has negative labels ({labels.min()}).")
    names = [str(c) for c in range(int(labels.max()) + 1)]
    return names, labels[: len(raw_train)], labels[len(raw_train):]


def _images(split: Any, column: str, size: tuple[int, int] | None, channels_first: bool, where: str) -> np.ndarray:
    """uint8 N×C×H×W from an image column, chunk by chunk."""
    if len(split) == 0:
        raise DatasetError(f"Hugging Face dataset split {where!r} has no rows.")
    first = _to_chw(split[0][column], size, channels_first, where, 0, None)
    out = np.empty((len(split), *first.shape), dtype=np.uint8)
    for start in range(0, len(split), _CHUNK):
        for offset, item in enumerate(split[start : start + _CHUNK][column]):
            out[start + offset] = _to_chw(item, size, channels_first, where, start + offset, first.shape)
    return out


def _to_chw(item: Any, size: tuple[int, int] | None, channels_first: bool, where: str, row: int,
            expected: tuple[int, ...] | None) -> np.ndarray:
    """One image (PIL image or array) as uint8 C×H×W, resized to `size` (H, W) when given."""
    from PIL import Image

    if isinstance(item, Image.Image):
        wanted_channels = expected[0] if expected is not None else (1 if item.mode in ("L", "1", "I", "I;16", "F") else 3)
        image = item.convert("L" if wanted_channels == 1 else "RGB")
        if size is not None and image.size != (size[1], size[0]):
            image = image.resize((size[1], size[0]), Image.Resampling.BILINEAR)
        array = np.asarray(image)
        array = array[None] if array.ndim == 2 else array.transpose(2, 0, 1)
    else:
        array = np.asarray(item)
        if array.dtype.kind == "f" or array.dtype == bool or array.size and (array.min() < 0 or array.max() > 255):
            raise DatasetError(
                f"Hugging Face dataset {where!r}, row {row}: image values must be integers 0..255 (uint8); got "
                f"dtype {array.dtype}. Store images as uint8 (or as the Image feature)."
            )
        if array.ndim == 2:
            array = array[None]
        elif array.ndim == 3 and not channels_first:
            array = array.transpose(2, 0, 1)
        elif array.ndim != 3:
            raise DatasetError(f"Hugging Face dataset {where!r}, row {row}: an image array has shape {array.shape}; expected H×W or H×W×C.")
        array = array.astype(np.uint8)
        if size is not None and array.shape[1:] != tuple(size):
            channels = [np.asarray(Image.fromarray(c).resize((size[1], size[0]), Image.Resampling.BILINEAR)) for c in array]
            array = np.stack(channels)
    if expected is not None and array.shape != expected:
        raise DatasetError(
            f"Hugging Face dataset {where!r}, row {row}: image of shape {array.shape} (C, H, W) differs from the "
            f"first image's {expected}; all images must share one size and channel count (or pass image_size "
            "to load_dataset to resize them)."
        )
    return array
