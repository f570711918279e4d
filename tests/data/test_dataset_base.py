"""The Dataset/ImageSplit contract, channel statistics and the dataset registry."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from retain.data import DATASET_NAMES, Dataset, ImageSplit, channel_stats, load_dataset
from retain.errors import ConfigError, DatasetError


def _split(n: int, channels: int = 3) -> ImageSplit:
    images = torch.arange(n * channels * 4 * 5, dtype=torch.int64).remainder(256).to(torch.uint8)
    return ImageSplit(images.reshape(n, channels, 4, 5), torch.arange(n) % 2)


def test_dataset_properties_and_to() -> None:
    data = Dataset("toy", _split(6), _split(2), ["a", "b"], (0.5,) * 3, (0.25,) * 3)
    assert data.num_classes == 2 and data.image_shape == (3, 4, 5) and len(data.train) == 6
    moved = data.to("cpu")
    assert moved is not data and moved.train.images.equal(data.train.images)
    assert moved.class_names == ["a", "b"] and moved.mean == data.mean


@pytest.mark.parametrize(
    "images, labels",
    [
        (torch.zeros(2, 1, 4, 4), torch.zeros(2, dtype=torch.int64)),  # float images
        (torch.zeros(2, 4, 4, dtype=torch.uint8), torch.zeros(2, dtype=torch.int64)),  # 3-D
        (torch.zeros(2, 1, 4, 4, dtype=torch.uint8), torch.zeros(2, dtype=torch.int32)),  # int32 labels
        (torch.zeros(2, 1, 4, 4, dtype=torch.uint8), torch.zeros(3, dtype=torch.int64)),  # lengths differ
    ],
)
def test_image_split_rejects_contract_violations(images: torch.Tensor, labels: torch.Tensor) -> None:
    with pytest.raises(DatasetError):
        ImageSplit(images, labels)


def test_mismatched_split_shapes_or_stats_are_rejected() -> None:
    with pytest.raises(DatasetError, match="shape"):
        Dataset("toy", _split(2, 3), _split(2, 1), ["a", "b"], (0.5,) * 3, (0.2,) * 3)
    with pytest.raises(DatasetError, match="per channel"):
        Dataset("toy", _split(2), _split(2), ["a", "b"], (0.5,), (0.2,))


def test_channel_stats_match_a_direct_computation_across_chunks() -> None:
    images = np.random.default_rng(3).integers(0, 256, (10, 2, 3, 3), dtype=np.uint8)
    mean, std = channel_stats(images, chunk=3)
    pixels = images.astype(np.float64) / 255
    np.testing.assert_allclose(mean, pixels.mean(axis=(0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(std, pixels.std(axis=(0, 2, 3)), rtol=1e-9)


def test_registry_names_match_the_contract() -> None:
    assert DATASET_NAMES == ("digits", "mnist", "fashion-mnist", "cifar10", "cifar100", "tiny-imagenet", "imagenet", "imagefolder", "hf")


def test_unknown_name_suggests_the_closest() -> None:
    with pytest.raises(ConfigError, match="Did you mean 'fashion-mnist'"):
        load_dataset("fashion-mnst")


def test_names_are_case_insensitive() -> None:
    assert load_dataset(" Digits ").name == "digits"


@pytest.mark.parametrize("size", [0, (3,), (2, -1), "32", True])
def test_bad_image_size_is_a_config_error(size) -> None:
    with pytest.raises(ConfigError, match="image_size"):
        load_dataset("imagefolder", data_dir=".", image_size=size)
