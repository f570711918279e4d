"""MNIST and Fashion-MNIST from their four IDX `.gz` files."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from retain.data.base import Dataset, ImageSplit, LoadRequest, check_label_range
from retain.data.idx import read_idx
from retain.data.locate import RemoteSource, locate
from retain.errors import DatasetError

TRAIN_IMAGES = "train-images-idx3-ubyte.gz"
TRAIN_LABELS = "train-labels-idx1-ubyte.gz"
TEST_IMAGES = "t10k-images-idx3-ubyte.gz"
TEST_LABELS = "t10k-labels-idx1-ubyte.gz"
IDX_FILES = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)

# md5 of the official .gz files; only downloads are checked (Debian recompresses its copies).
CHECKSUMS: dict[str, dict[str, str]] = {
    "mnist": {
        TRAIN_IMAGES: "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        TRAIN_LABELS: "d53e105ee54ea40749a09fcbcd1e9432",
        TEST_IMAGES: "9fb629c4189551a2d022fa330f9573f3",
        TEST_LABELS: "ec29112dd5afa0611ce80d1b7f02629c",
    },
    "fashion-mnist": {
        TRAIN_IMAGES: "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        TRAIN_LABELS: "25c81989df183df01b3e8a0aad5dffbe",
        TEST_IMAGES: "bef4ecab320f06d8554ea6380940ec79",
        TEST_LABELS: "bb300cfdad3c16e7a12a480ee83cd310",
    },
}

OFFICIAL_URLS = {
    "mnist": "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "fashion-mnist": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
}

HINTS = {"fashion-mnist": ["apt-get install dataset-fashion-mnist (installs /usr/share/datasets/fashion-mnist)"]}

CLASS_NAMES = {
    "mnist": [str(digit) for digit in range(10)],
    "fashion-mnist": [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ],
}

STATS = {
    "mnist": ((0.1307,), (0.3081,)),
    "fashion-mnist": ((0.2860,), (0.3530,)),
}


def load_mnist_like(request: LoadRequest) -> Dataset:
    """MNIST or Fashion-MNIST (by `request.name`) as 1×28×28 uint8 images."""
    name = request.name
    source = RemoteSource(
        official_url=OFFICIAL_URLS[name],
        checksums=CHECKSUMS[name],
        layout=f"the files {', '.join(IDX_FILES)} side by side",
        hints=HINTS.get(name, []),
    )
    folder = locate(request, source, _holds_idx_files)
    mean, std = STATS[name]
    return Dataset(
        name=name,
        train=_read_split(folder / TRAIN_IMAGES, folder / TRAIN_LABELS, len(CLASS_NAMES[name])),
        test=_read_split(folder / TEST_IMAGES, folder / TEST_LABELS, len(CLASS_NAMES[name])),
        class_names=list(CLASS_NAMES[name]),
        mean=mean,
        std=std,
    )


def _holds_idx_files(folder: Path) -> Path | None:
    return folder if all((folder / filename).is_file() for filename in IDX_FILES) else None


def _read_split(images_path: Path, labels_path: Path, num_classes: int) -> ImageSplit:
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DatasetError(
            f"IDX file {images_path} holds a {images.dtype} array of shape {images.shape}; "
            "expected uint8 images (N, H, W)."
        )
    if labels.ndim != 1 or len(labels) != len(images):
        raise DatasetError(
            f"IDX file {labels_path} holds labels of shape {labels.shape}; expected ({len(images)},) "
            f"to match the images in {images_path.name}."
        )
    check_label_range(labels, num_classes, f"IDX file {labels_path}")
    return ImageSplit.from_numpy(images[:, None, :, :], labels)
