"""CIFAR-10 and CIFAR-100 from the official python-pickle archives or their extracted folders."""

from __future__ import annotations

import io
import pickle
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from retain.data.base import Dataset, ImageSplit, LoadRequest, check_label_range
from retain.data.locate import RemoteSource, locate
from retain.errors import DatasetError


@dataclass(frozen=True)
class CifarLayout:
    """File names and pickle keys of one CIFAR variant."""

    archive: str
    folder: str
    train_files: tuple[str, ...]
    test_file: str
    meta_file: str
    names_key: bytes
    labels_key: bytes
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @property
    def files(self) -> tuple[str, ...]:
        return (*self.train_files, self.test_file, self.meta_file)


LAYOUTS = {
    "cifar10": CifarLayout(
        archive="cifar-10-python.tar.gz",
        folder="cifar-10-batches-py",
        train_files=tuple(f"data_batch_{i}" for i in range(1, 6)),
        test_file="test_batch",
        meta_file="batches.meta",
        names_key=b"label_names",
        labels_key=b"labels",
        mean=(0.4914, 0.4822, 0.4465),
        std=(0.2470, 0.2435, 0.2615),
    ),
    "cifar100": CifarLayout(
        archive="cifar-100-python.tar.gz",
        folder="cifar-100-python",
        train_files=("train",),
        test_file="test",
        meta_file="meta",
        names_key=b"fine_label_names",
        labels_key=b"fine_labels",
        mean=(0.5071, 0.4867, 0.4408),
        std=(0.2675, 0.2565, 0.2761),
    ),
}

OFFICIAL_URL = "https://www.cs.toronto.edu/~kriz/"
CHECKSUMS = {
    "cifar10": {"cifar-10-python.tar.gz": "c58f30108f718f92721af3b95e74349a"},
    "cifar100": {"cifar-100-python.tar.gz": "eb9058c3a382ffc7106e4002c42a8d85"},
}

# The only globals a CIFAR pickle may name: numpy's array reconstruction and bytes decoding.
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class _CifarUnpickler(pickle.Unpickler):
    """Refuses every global except numpy arrays, so a crafted file cannot run code."""

    def find_class(self, module: str, name: str):  # noqa: ANN201 - pickle's signature
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a CIFAR pickle")
        if module == "numpy.core.multiarray":
            module = "numpy._core.multiarray" if hasattr(np, "_core") else module
        return super().find_class(module, name)


def load_cifar(request: LoadRequest) -> Dataset:
    """CIFAR-10 or CIFAR-100 (fine labels) as 3×32×32 uint8 images."""
    layout = LAYOUTS[request.name]
    source = RemoteSource(
        official_url=OFFICIAL_URL,
        checksums=CHECKSUMS[request.name],
        layout=(
            f"the archive {layout.archive}, or its extracted folder {layout.folder}/ holding "
            f"{', '.join(layout.files)}"
        ),
    )
    location = locate(request, source, lambda folder: _find(folder, layout))
    pickles = _read_pickles(location, layout)
    names = [_decode(name) for name in _field(pickles[layout.meta_file], layout.names_key, location, layout.meta_file)]
    train_parts = [_split(pickles[f], layout, location, f, len(names)) for f in layout.train_files]
    train = (np.concatenate([p[0] for p in train_parts]), np.concatenate([p[1] for p in train_parts]))
    test = _split(pickles[layout.test_file], layout, location, layout.test_file, len(names))
    return Dataset(
        name=request.name,
        train=ImageSplit.from_numpy(*train),
        test=ImageSplit.from_numpy(*test),
        class_names=names,
        mean=layout.mean,
        std=layout.std,
    )


def _find(folder: Path, layout: CifarLayout) -> Path | None:
    """An extracted folder (`folder/<layout.folder>` or `folder` itself) or the archive."""
    for extracted in (folder / layout.folder, folder):
        if all((extracted / f).is_file() for f in layout.files):
            return extracted
    archive = folder / layout.archive
    return archive if archive.is_file() else None


def _read_pickles(location: Path, layout: CifarLayout) -> dict[str, object]:
    if location.is_dir():
        return {f: _unpickle((location / f).read_bytes(), location / f) for f in layout.files}
    # Read members straight from the archive: nothing is extracted, so no path can escape.
    wanted = {f"{layout.folder}/{f}": f for f in layout.files}
    found: dict[str, object] = {}
    try:
        with tarfile.open(location, "r:gz") as archive:
            for member in archive:
                filename = wanted.get(member.name.removeprefix("./"))
                if filename is not None and member.isfile():
                    data = archive.extractfile(member).read()
                    found[filename] = _unpickle(data, Path(f"{location}:{member.name}"))
    except (tarfile.TarError, OSError, EOFError, zlib.error) as error:
        raise DatasetError(f"Cannot read CIFAR archive {location}: {error}. Delete it and fetch it again.") from error
    missing = [name for name in wanted if wanted[name] not in found]
    if missing:
        raise DatasetError(
            f"CIFAR archive {location} lacks the members {', '.join(missing)}; expected the official "
            f"{layout.archive} layout ({layout.folder}/ with {', '.join(layout.files)})."
        )
    return found


def _unpickle(data: bytes, path: Path) -> object:
    try:
        return _CifarUnpickler(io.BytesIO(data), encoding="bytes").load()
    except Exception as error:  # any failure to decode means the file is not a CIFAR pickle
        raise DatasetError(f"Cannot unpickle CIFAR file {path}: {error}. The file is corrupt or not a CIFAR batch.") from error


def _field(batch: object, key: bytes, location: Path, filename: str) -> object:
    if not isinstance(batch, dict) or key not in batch:
        keys = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
        raise DatasetError(f"CIFAR file {filename} in {location} has no {key.decode()!r} entry (found {keys}).")
    return batch[key]


def _split(batch: object, layout: CifarLayout, location: Path, filename: str, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    data = np.asarray(_field(batch, b"data", location, filename))
    labels = np.asarray(_field(batch, layout.labels_key, location, filename), dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
        raise DatasetError(
            f"CIFAR file {filename} in {location} holds data {data.dtype} {data.shape} and "
            f"{len(labels)} labels; expected uint8 (N, 3072) with N labels."
        )
    check_label_range(labels, num_classes, f"CIFAR file {filename} in {location}")
    return data.reshape(-1, 3, 32, 32), labels


def _decode(name: object) -> str:
    return name.decode("utf-8") if isinstance(name, bytes) else str(name)
