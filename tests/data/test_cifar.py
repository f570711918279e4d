"""CIFAR-10/100 from fake pickle folders and tar.gz archives, and rejection of bad pickles."""

from __future__ import annotations

import io
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from retain.data import load_dataset
from retain.errors import DatasetError


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
@pytest.mark.parametrize("archive", [False, True])
def test_loads_fake_cifar(tmp_path: Path, write_cifar, name: str, archive: bool) -> None:
    written = write_cifar(tmp_path, name, archive=archive, per_file=3)
    data = load_dataset(name, data_dir=tmp_path, download=False)
    train_files = 5 if name == "cifar10" else 1
    assert data.train.images.shape == (3 * train_files, 3, 32, 32) and data.test.images.shape == (3, 3, 32, 32)
    assert data.train.images.dtype == torch.uint8 and data.train.labels.dtype == torch.int64
    # The pickle stores each row as 1024 red, then green, then blue values.
    np.testing.assert_array_equal(data.train.images.reshape(-1, 3072).numpy(), written["train_data"])
    assert data.train.images[0, 1, 0, 0].item() == written["train_data"][0, 1024]
    assert data.test.labels.tolist() == written["test_labels"].tolist()
    assert data.class_names == written["class_names"]
    assert data.num_classes == (10 if name == "cifar10" else 100)


def test_extracted_folder_can_be_the_data_dir_itself(tmp_path: Path, write_cifar) -> None:
    written = write_cifar(tmp_path, "cifar100", per_file=2)
    data = load_dataset("cifar100", data_dir=tmp_path / "cifar-100-python", download=False)
    assert data.train.labels.tolist() == written["train_labels"].tolist()
    assert data.mean == (0.5071, 0.4867, 0.4408)


def test_pickle_naming_other_globals_is_refused(tmp_path: Path, write_cifar) -> None:
    write_cifar(tmp_path, "cifar10", per_file=1)

    class Payload:
        def __reduce__(self):
            return (os.getcwd, ())

    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(pickle.dumps({b"data": Payload()}))
    with pytest.raises(DatasetError, match="test_batch.*not allowed"):
        load_dataset("cifar10", data_dir=tmp_path, download=False)


def test_archive_missing_a_member_is_reported(tmp_path: Path) -> None:
    blob = pickle.dumps({b"label_names": [b"a"]}, protocol=2)
    with tarfile.open(tmp_path / "cifar-10-python.tar.gz", "w:gz") as tar:
        info = tarfile.TarInfo("cifar-10-batches-py/batches.meta")
        info.size = len(blob)
        tar.addfile(info, io.BytesIO(blob))
    with pytest.raises(DatasetError, match="cifar-10-python.tar.gz lacks.*data_batch_1"):
        load_dataset("cifar10", data_dir=tmp_path, download=False)


def test_corrupt_archive_names_it(tmp_path: Path) -> None:
    (tmp_path / "cifar-100-python.tar.gz").write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(DatasetError, match="cifar-100-python.tar.gz"):
        load_dataset("cifar100", data_dir=tmp_path, download=False)


def test_wrong_data_shape_is_reported(tmp_path: Path, write_cifar) -> None:
    write_cifar(tmp_path, "cifar10", per_file=2)
    batch = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    content = pickle.loads(batch.read_bytes(), encoding="bytes")
    content[b"data"] = content[b"data"][:, :100]
    batch.write_bytes(pickle.dumps(content, protocol=2))
    with pytest.raises(DatasetError, match="data_batch_3.*3072"):
        load_dataset("cifar10", data_dir=tmp_path, download=False)
