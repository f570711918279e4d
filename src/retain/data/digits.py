"""scikit-learn's bundled 8×8 digits: always available, no download, the built-in default."""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
from pathlib import Path

import numpy as np

from retain.data.base import Dataset, ImageSplit, LoadRequest, channel_stats
from retain.data.decode import cached_splits

TEST_FRACTION = 0.25
SPLIT_SEED = 0


def load_digits(request: LoadRequest) -> Dataset:
    """Digits as 1×8×8 uint8 images (0..16 scaled to 0..255), with a fixed stratified split.

    The split is made once with scikit-learn and kept in the data cache (keyed by the bundled
    file and scikit-learn's version): later runs read two small arrays instead of importing
    scikit-learn, which takes seconds."""
    source = _bundled_file()
    if source is None:
        train, test = _split_with_sklearn()
    else:
        stat = source.stat()
        identity = {"file": str(source), "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns,
                    "scikit-learn": _sklearn_version(), "test_fraction": TEST_FRACTION, "split_seed": SPLIT_SEED}
        key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
        train, test = cached_splits(request.name, key, identity, _split_with_sklearn, {"source": str(source)}, required=False)
    mean, std = channel_stats(train.images)
    return Dataset(
        name=request.name,
        train=train,
        test=test,
        class_names=[str(digit) for digit in range(10)],
        mean=mean,
        std=std,
    )


def _split_with_sklearn() -> tuple[ImageSplit, ImageSplit]:
    # scikit-learn takes seconds to import: only pay for it when the split is not cached.
    from sklearn.datasets import load_digits as sklearn_digits
    from sklearn.model_selection import train_test_split

    bunch = sklearn_digits()
    images = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)[:, None, :, :]
    labels = bunch.target.astype(np.int64)
    train_idx, test_idx = train_test_split(
        np.arange(len(labels)), test_size=TEST_FRACTION, stratify=labels, random_state=SPLIT_SEED
    )
    # Keep the original file order inside each split; the split itself is what the seed fixes.
    train_idx, test_idx = np.sort(train_idx), np.sort(test_idx)
    return (ImageSplit.from_numpy(images[train_idx], labels[train_idx]),
            ImageSplit.from_numpy(images[test_idx], labels[test_idx]))


def _bundled_file() -> Path | None:
    """scikit-learn's digits.csv.gz, found without importing scikit-learn (None if absent)."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / "digits.csv.gz"
    return path if path.is_file() else None


def _sklearn_version() -> str:
    try:
        return importlib.metadata.version("scikit-learn")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
