"""Fixtures for retain.data tests: an isolated cache dir and writers of fake on-disk datasets."""

from __future__ import annotations

import functools
import gzip
import http.server
import io
import pickle
import struct
import tarfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

IDX_NAMES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}


@pytest.fixture(autouse=True)
def data_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every data test gets its own cache dir, so nothing is written to the home directory."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("RETAIN_DATA", str(cache))
    monkeypatch.delenv("RETAIN_DATA_MIRROR", raising=False)
    return cache


def idx_bytes(array: np.ndarray) -> bytes:
    """IDX encoding of a uint8 or int32 array (big-endian header and elements)."""
    codes = {np.dtype(np.uint8): 0x08, np.dtype(np.int32): 0x0C}
    header = bytes([0, 0, codes[array.dtype], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


@pytest.fixture
def idx_encoder() -> Callable[[np.ndarray], bytes]:
    return idx_bytes


@pytest.fixture
def write_idx_dataset() -> Callable[..., dict[str, np.ndarray]]:
    """Writes the four MNIST-style `.gz` files into a folder; returns the arrays written."""

    def write(folder: Path, n_train: int = 12, n_test: int = 6, seed: int = 0) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(seed)
        arrays = {
            "train_images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
            "train_labels": (np.arange(n_train) % 10).astype(np.uint8),
            "test_images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
            "test_labels": (np.arange(n_test)[::-1] % 10).astype(np.uint8),
        }
        folder.mkdir(parents=True, exist_ok=True)
        for key, filename in IDX_NAMES.items():
            (folder / filename).write_bytes(gzip.compress(idx_bytes(arrays[key])))
        return arrays

    return write


CIFAR_FILES = {
    "cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], "test_batch", "batches.meta"),
    "cifar100": ("cifar-100-python", ["train"], "test", "meta"),
}


def _cifar_batch(name: str, rng: np.random.Generator, n: int, num_classes: int) -> dict[bytes, object]:
    labels = [int(v) for v in rng.integers(0, num_classes, n)]
    data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    batch: dict[bytes, object] = {b"data": data, b"filenames": [b"img_%d.png" % i for i in range(n)]}
    if name == "cifar10":
        batch[b"labels"] = labels
    else:
        batch[b"fine_labels"] = labels
        batch[b"coarse_labels"] = [label // 5 for label in labels]
    return batch


@pytest.fixture
def write_cifar() -> Callable[..., dict[str, object]]:
    """Writes a fake CIFAR-10/100 (extracted folder, or the tar.gz archive) into `folder`.

    Returns the concatenated train/test data and labels and the class names written.
    """

    def write(folder: Path, name: str, archive: bool = False, per_file: int = 4, seed: int = 0) -> dict[str, object]:
        rng = np.random.default_rng(seed)
        subfolder, train_files, test_file, meta_file = CIFAR_FILES[name]
        num_classes = 10 if name == "cifar10" else 100
        class_names = [f"class{i:03d}" for i in range(num_classes)]
        files: dict[str, dict[bytes, object]] = {f: _cifar_batch(name, rng, per_file, num_classes) for f in train_files}
        files[test_file] = _cifar_batch(name, rng, per_file, num_classes)
        meta_key = b"label_names" if name == "cifar10" else b"fine_label_names"
        files[meta_file] = {meta_key: [c.encode() for c in class_names]}
        if name == "cifar100":
            files[meta_file][b"coarse_label_names"] = [b"super%d" % i for i in range(20)]
        blobs = {f: pickle.dumps(content, protocol=2) for f, content in files.items()}
        if archive:
            folder.mkdir(parents=True, exist_ok=True)
            archive_name = "cifar-10-python.tar.gz" if name == "cifar10" else "cifar-100-python.tar.gz"
            with tarfile.open(folder / archive_name, "w:gz") as tar:
                for filename, blob in blobs.items():
                    info = tarfile.TarInfo(f"{subfolder}/{filename}")
                    info.size = len(blob)
                    tar.addfile(info, io.BytesIO(blob))
        else:
            (folder / subfolder).mkdir(parents=True, exist_ok=True)
            for filename, blob in blobs.items():
                (folder / subfolder / filename).write_bytes(blob)
        labels_key = b"labels" if name == "cifar10" else b"fine_labels"
        return {
            "train_data": np.concatenate([files[f][b"data"] for f in train_files]),
            "train_labels": np.concatenate([files[f][labels_key] for f in train_files]),
            "test_data": files[test_file][b"data"],
            "test_labels": np.array(files[test_file][labels_key]),
            "class_names": class_names,
        }

    return write


def write_image(path: Path, color: tuple[int, int, int], size: tuple[int, int] = (6, 5)) -> None:
    """A one-colour RGB image of `size` (width, height); the format follows the extension."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = "JPEG" if path.suffix.lower() in (".jpg", ".jpeg") else None
    Image.new("RGB", size, color).save(path, format=fmt)


@pytest.fixture
def image_writer() -> Callable[..., None]:
    return write_image


@pytest.fixture
def http_mirror(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A local HTTP server on 127.0.0.1 (random port) serving `tmp_path/mirror`; yields (url, folder)."""
    folder = tmp_path / "mirror"
    folder.mkdir()

    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep test output clean
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", folder
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
