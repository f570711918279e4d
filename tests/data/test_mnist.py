"""MNIST and Fashion-MNIST from IDX files: search order, contents, errors, and the real Debian copy."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

from retain.data import load_dataset, locate
from retain.errors import DatasetError

FASHION_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
IDX_FILES = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]


def test_loads_fake_mnist_from_data_dir(tmp_path: Path, write_idx_dataset) -> None:
    arrays = write_idx_dataset(tmp_path / "raw", n_train=12, n_test=6)
    data = load_dataset("mnist", data_dir=tmp_path / "raw", download=False)
    assert data.train.images.shape == (12, 1, 28, 28) and data.test.images.shape == (6, 1, 28, 28)
    assert data.train.images.dtype == torch.uint8 and data.train.labels.dtype == torch.int64
    np.testing.assert_array_equal(data.train.images[:, 0].numpy(), arrays["train_images"])
    np.testing.assert_array_equal(data.test.labels.numpy(), arrays["test_labels"])
    assert data.class_names == [str(d) for d in range(10)]
    assert data.mean == (0.1307,) and data.std == (0.3081,)
    assert data.image_shape == (1, 28, 28) and data.num_classes == 10


def test_named_subfolder_of_data_dir_wins_over_system_dir(tmp_path: Path, write_idx_dataset) -> None:
    write_idx_dataset(tmp_path / "fashion-mnist", n_train=7, n_test=3)
    data = load_dataset("fashion-mnist", data_dir=tmp_path, download=False)
    assert len(data.train) == 7 and len(data.test) == 3
    assert data.class_names[0] == "T-shirt/top" and data.class_names[-1] == "Ankle boot"


def test_missing_files_name_every_path_looked_in(tmp_path: Path, data_cache: Path) -> None:
    data_dir = tmp_path / "nothing-here"
    data_dir.mkdir()
    with pytest.raises(DatasetError) as info:
        load_dataset("mnist", data_dir=data_dir, download=False)
    message = str(info.value)
    for path in (data_dir, data_dir / "mnist"):
        assert str(path) in message
    assert str(data_cache) not in message  # a given data.dir is the only place looked at
    for filename in IDX_FILES:
        assert filename in message
    assert "data.dir" in message and "only place looked at" in message


def test_missing_fashion_mnist_suggests_the_debian_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    system_dir = tmp_path / "no-system-copy"
    monkeypatch.setitem(locate.SYSTEM_DIRS, "fashion-mnist", [system_dir])
    with pytest.raises(DatasetError) as info:
        load_dataset("fashion-mnist", download=False)
    assert str(system_dir) in str(info.value)
    assert "apt-get install dataset-fashion-mnist" in str(info.value)


def test_label_count_mismatch_names_the_labels_file(tmp_path: Path, write_idx_dataset, idx_encoder) -> None:
    write_idx_dataset(tmp_path, n_train=12, n_test=6)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_encoder(np.zeros(5, np.uint8))))
    with pytest.raises(DatasetError, match="t10k-labels-idx1-ubyte.gz"):
        load_dataset("mnist", data_dir=tmp_path, download=False)


def test_out_of_range_label_is_rejected(tmp_path: Path, write_idx_dataset, idx_encoder) -> None:
    write_idx_dataset(tmp_path, n_train=3, n_test=6)
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_encoder(np.array([0, 1, 10], np.uint8))))
    with pytest.raises(DatasetError, match="train-labels-idx1-ubyte.gz.*0 to 9"):
        load_dataset("mnist", data_dir=tmp_path, download=False)


def test_real_fashion_mnist_from_debian_package(data_cache: Path) -> None:
    assert all((FASHION_SYSTEM_DIR / f).is_file() for f in IDX_FILES), "install dataset-fashion-mnist"
    data = load_dataset("fashion-mnist", download=False)
    assert len(data.train) == 60000 and len(data.test) == 10000
    assert data.image_shape == (1, 28, 28)
    assert data.train.images.dtype == torch.uint8 and data.test.labels.dtype == torch.int64
    # Fashion-MNIST is balanced: 6,000 train and 1,000 test images per class.
    assert torch.bincount(data.train.labels).tolist() == [6000] * 10
    assert torch.bincount(data.test.labels).tolist() == [1000] * 10
    assert not data_cache.exists(), "a local copy must not be duplicated into the cache"
