"""Small generated datasets in the on-disk formats retain reads: MNIST-style IDX `.gz` files and
CIFAR-10/100 pickles. Each class is a fixed random pattern plus noise, so a network can learn it;
the bytes depend only on the arguments (a fixed seed), so runs on them are comparable anywhere.
"""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np

IDX_DATASETS = {"mnist": 10, "fashion-mnist": 10}
CIFAR_DATASETS = {
    # name: (folder, train files, test file, meta file, class-names key, labels key, classes)
    "cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], "test_batch", "batches.meta",
                b"label_names", b"labels", 10),
    "cifar100": ("cifar-100-python", ["train"], "test", "meta", b"fine_label_names", b"fine_labels", 100),
}


def class_images(num_classes: int, per_class: int, shape: tuple[int, ...], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`per_class` uint8 images of each class (pattern + noise), classes interleaved."""
    patterns = np.random.default_rng(12345).integers(0, 256, (num_classes, *shape))
    rng = np.random.default_rng(seed)
    labels = np.tile(np.arange(num_classes), per_class)
    noise = rng.normal(0.0, 40.0, (len(labels), *shape))
    return np.clip(patterns[labels] + noise, 0, 255).astype(np.uint8), labels


def _idx(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes(), mtime=0)


def write_idx(folder: Path, num_classes: int, train: int, test: int) -> None:
    """The four IDX files of MNIST / Fashion-MNIST, side by side in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, per_class, seed in (("train", train, 1), ("t10k", test, 2)):
        images, labels = class_images(num_classes, per_class, (28, 28), seed)
        (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(_idx(images))
        (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(_idx(labels))


def write_cifar(folder: Path, name: str, train: int, test: int) -> None:
    """The extracted CIFAR folder (`cifar-10-batches-py/` or `cifar-100-python/`) under `folder`."""
    sub, train_files, test_file, meta_file, names_key, labels_key, num_classes = CIFAR_DATASETS[name]
    root = folder / sub
    root.mkdir(parents=True, exist_ok=True)
    images, labels = class_images(num_classes, train, (3072,), 1)
    for i, filename in enumerate(train_files):  # the training rows dealt over the batch files
        part = slice(i, None, len(train_files))
        _pickle(root / filename, {b"data": images[part], labels_key: [int(v) for v in labels[part]]})
    images, labels = class_images(num_classes, test, (3072,), 2)
    _pickle(root / test_file, {b"data": images, labels_key: [int(v) for v in labels]})
    _pickle(root / meta_file, {names_key: [f"class{i}".encode() for i in range(num_classes)]})


def _pickle(path: Path, value: object) -> None:
    path.write_bytes(pickle.dumps(value, protocol=2))


def write_dataset(name: str, folder: Path, train: int, test: int) -> None:
    """Write dataset `name` with `train` / `test` rows per class into `folder` (retain's data.dir)."""
    if name in IDX_DATASETS:
        write_idx(folder, IDX_DATASETS[name], train, test)
    elif name in CIFAR_DATASETS:
        write_cifar(folder, name, train, test)
    else:
        raise ValueError(f"no generator for dataset {name!r}; known: {', '.join([*IDX_DATASETS, *CIFAR_DATASETS])}")
