"""Datasets as uint8 tensors: sources, download with checksums, and the cache directory.

`load_dataset(name, data_dir=None, download=True)` returns a `Dataset` whose splits hold
uint8 images N×C×H×W and int64 labels. Sources are registered by name (`register_dataset`);
the built-in ones (digits, MNIST, Fashion-MNIST, CIFAR-10/100, Tiny-ImageNet, ImageNet, any image folder,
Hugging Face `datasets`) use the same door as a user's own.
"""

from __future__ import annotations

from retain.config import DataConfig
from retain.data import builtin  # noqa: F401  (registers the built-in sources)
from retain.data.base import Dataset, ImageSplit, LoadRequest, channel_stats
from retain.data.cache import cache_root
from retain.data.registry import (
    as_dataset,
    dataset_entry,
    dataset_from_arrays,
    dataset_names,
    declared_class_names,
    declared_geometry,
    declared_train_test_sizes,
    load_dataset,
    register_dataset,
)

# The built-in names (plugins add theirs later: `dataset_names()` lists everything registered).
DATASET_NAMES: tuple[str, ...] = tuple(dataset_names())


def load_configured_dataset(data: DataConfig, eval_resize: int | None = None) -> Dataset:
    """The dataset a config's `data` section names, loaded on the CPU (`eval_resize`: augment.eval_resize)."""
    return load_dataset(data.name, data_dir=data.dir, download=data.download, mirror=data.mirror,
                        path=data.path, options=data.options, side=data.image_size, eval_resize=eval_resize,
                        storage=data.storage, max_side=data.max_side, workers=data.workers)


__all__ = [
    "DATASET_NAMES",
    "Dataset",
    "ImageSplit",
    "LoadRequest",
    "as_dataset",
    "cache_root",
    "channel_stats",
    "dataset_entry",
    "dataset_from_arrays",
    "dataset_names",
    "declared_class_names",
    "declared_geometry",
    "declared_train_test_sizes",
    "load_configured_dataset",
    "load_dataset",
    "register_dataset",
]
