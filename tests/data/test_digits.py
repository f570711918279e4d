"""The built-in digits dataset: scaling, a deterministic stratified 75/25 split."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits as sklearn_digits

from retain.data import load_dataset


def test_shapes_and_scaling() -> None:
    data = load_dataset("digits")
    assert data.image_shape == (1, 8, 8) and data.num_classes == 10
    assert data.train.images.dtype == torch.uint8 and data.train.labels.dtype == torch.int64
    assert len(data.train) + len(data.test) == 1797
    assert len(data.test) == 450  # test_size=0.25 of 1,797, rounded up as scikit-learn does
    # Every pixel is round(v * 255 / 16) of a value v in 0..16.
    allowed = {int(np.rint(v * 255 / 16)) for v in range(17)}
    assert set(torch.unique(data.train.images).tolist()) <= allowed
    assert data.train.images.max().item() == 255


def test_split_is_a_partition_of_the_original_images() -> None:
    data = load_dataset("digits")
    original = np.rint(sklearn_digits().images * 255 / 16).astype(np.uint8).reshape(1797, -1)
    combined = torch.cat([data.train.images, data.test.images]).reshape(1797, -1).numpy()
    np.testing.assert_array_equal(_sorted_rows(combined), _sorted_rows(original))


def _sorted_rows(rows: np.ndarray) -> np.ndarray:
    """Rows in lexicographic order, so two arrays compare as multisets of rows."""
    return rows[np.lexsort(rows.T[::-1])]


def test_split_is_deterministic_and_stratified() -> None:
    first, second = load_dataset("digits"), load_dataset("digits")
    assert first.train.images.equal(second.train.images) and first.test.labels.equal(second.test.labels)
    train_counts = torch.bincount(first.train.labels, minlength=10).double()
    test_counts = torch.bincount(first.test.labels, minlength=10).double()
    share = test_counts / (train_counts + test_counts)
    assert torch.all((share - 0.25).abs() < 0.01)


def test_mean_and_std_come_from_the_train_split() -> None:
    data = load_dataset("digits")
    pixels = data.train.images.double() / 255
    assert data.mean[0] == pytest.approx(pixels.mean().item(), rel=1e-9)
    assert data.std[0] == pytest.approx(pixels.std(unbiased=False).item(), rel=1e-9)



def test_second_load_reads_the_cached_split_without_scikit_learn(data_cache) -> None:
    import subprocess
    import sys

    first = load_dataset("digits")
    code = (
        "import sys, torch\n"
        "from retain.data import load_dataset\n"
        "d = load_dataset('digits')\n"
        "torch.save([d.train.images, d.train.labels, d.test.images, d.test.labels, d.mean, d.std], sys.argv[1])\n"
        "print('sklearn' in sys.modules)\n"
    )
    saved = data_cache / "second.pt"
    out = subprocess.run([sys.executable, "-c", code, str(saved)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    images, labels, test_images, test_labels, mean, std = torch.load(saved)
    assert torch.equal(images, first.train.images) and torch.equal(labels, first.train.labels)
    assert torch.equal(test_images, first.test.images) and torch.equal(test_labels, first.test.labels)
    assert (mean, std) == (first.mean, first.std)
