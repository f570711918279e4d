"""scikit-learn's bundled 8×8 digits: always available, no download, the built-in default."""

from __future__ import annotations

import numpy as np

from retain.data.base import Dataset, ImageSplit, LoadRequest, channel_stats

TEST_FRACTION = 0.25
SPLIT_SEED = 0


def load_digits(request: LoadRequest) -> Dataset:
    """Digits as 1×8×8 uint8 images (0..16 scaled to 0..255), with a fixed stratified split."""
    # scikit-learn takes seconds to import: only pay for it when digits are loaded.
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
    mean, std = channel_stats(images[train_idx])
    return Dataset(
        name=request.name,
        train=ImageSplit.from_numpy(images[train_idx], labels[train_idx]),
        test=ImageSplit.from_numpy(images[test_idx], labels[test_idx]),
        class_names=[str(digit) for digit in range(10)],
        mean=mean,
        std=std,
    )
