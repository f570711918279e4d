"""RandomResizedCrop boxes follow torchvision's rule (checked against a plain one-sample-at-a-time
reading of it), fall back to the centred whole image, and cut exactly on the device."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch

from retain.augment import Augmenter, crop_boxes, resized_crop
from retain.config import AugmentConfig

SCALE, RATIO = (0.08, 1.0), (3 / 4, 4 / 3)


def reference_box(height: int, width: int, rng: random.Random) -> tuple[int, int, int, int]:
    """torchvision's RandomResizedCrop.get_params, one sample, as its documentation states it."""
    area = height * width
    for _ in range(10):
        target = area * rng.uniform(*SCALE)
        aspect = math.exp(rng.uniform(math.log(RATIO[0]), math.log(RATIO[1])))
        w, h = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            return rng.randint(0, height - h), rng.randint(0, width - w), h, w
    in_ratio = width / height
    if in_ratio < min(RATIO):
        w, h = width, round(width / min(RATIO))
    elif in_ratio > max(RATIO):
        h, w = height, round(height * max(RATIO))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def _boxes(height: int, width: int, n: int, seed: int = 0) -> np.ndarray:
    g = torch.Generator().manual_seed(seed)
    return crop_boxes(torch.full((n,), height), torch.full((n,), width), g, SCALE, RATIO).numpy()


@pytest.mark.parametrize("height,width", [(200, 200), (120, 300)])
def test_area_and_ratio_distributions_match_the_rule(height, width):
    n = 10000
    ours = _boxes(height, width, n)
    rng = random.Random(1)
    theirs = np.array([reference_box(height, width, rng) for _ in range(n)])
    for boxes in (ours, theirs):
        assert (boxes[:, 0] >= 0).all() and (boxes[:, 1] >= 0).all()
        assert (boxes[:, 0] + boxes[:, 2] <= height).all() and (boxes[:, 1] + boxes[:, 3] <= width).all()
    quantiles = np.linspace(0.05, 0.95, 19)
    area = lambda b: b[:, 2] * b[:, 3] / (height * width)  # noqa: E731
    ratio = lambda b: np.log(b[:, 3] / b[:, 2])  # noqa: E731
    assert np.abs(np.quantile(area(ours), quantiles) - np.quantile(area(theirs), quantiles)).max() < 0.025
    assert np.abs(np.quantile(ratio(ours), quantiles) - np.quantile(ratio(theirs), quantiles)).max() < 0.025
    assert area(ours).min() >= 0.07 and np.abs(ratio(ours)).max() <= math.log(4 / 3) + 0.02
    # the accepted areas cover the whole scale range, not only its middle
    largest = min(height, width) * min(max(height, width), round(min(height, width) * 4 / 3)) / (height * width)
    assert area(ours).min() < 0.1 and area(ours).max() > 0.95 * largest


def test_positions_are_uniform_over_the_free_room():
    boxes = _boxes(200, 200, 20000)
    free_y, free_x = 200 - boxes[:, 2], 200 - boxes[:, 3]
    room = free_y > 0
    u = boxes[room, 0] / free_y[room]
    assert abs(u.mean() - 0.5) < 0.01 and abs((u < 0.25).mean() - 0.25) < 0.015
    assert (boxes[:, 0] <= free_y).all() and (boxes[:, 1] <= free_x).all()


@pytest.mark.parametrize("height,width,expected", [
    (10, 400, (0, 193, 10, 13)),    # too wide for any try: height kept, width round(10 · 4/3), centred
    (400, 10, (193, 0, 13, 10)),    # too tall: width kept, height round(10 / (3/4)), centred
])
def test_images_no_try_fits_fall_back_to_the_centred_allowed_ratio(height, width, expected):
    boxes = _boxes(height, width, 50)
    rng = random.Random(0)
    reference = {reference_box(height, width, rng) for _ in range(50)}
    assert len({tuple(b) for b in boxes.tolist()}) == 1 == len(reference)
    assert tuple(boxes[0]) == reference.pop() == expected


def test_the_crop_cuts_exactly_on_pixel_grid_and_resizes():
    images = torch.randint(0, 256, (3, 3, 32, 32), dtype=torch.uint8)
    boxes = torch.tensor([[4, 8, 16, 16], [0, 0, 32, 32], [10, 2, 16, 16]])
    out = resized_crop(images, boxes, 16)
    assert torch.equal(out[0], images[0, :, 4:20, 8:24]) and torch.equal(out[2], images[2, :, 10:26, 2:18])
    # the whole 32×32 image halved: each output pixel is the mean of a 2×2 block (bilinear at its centre)
    halved = images[1].float().reshape(3, 16, 2, 16, 2).mean(dim=(2, 4))
    assert (out[1].float() - halved).abs().max() <= 0.5 + 1e-4


def test_the_augmenter_crops_then_flips_and_resumes_its_draws():
    config = AugmentConfig(resized_crop=True, flip=True)
    images = torch.randint(0, 256, (8, 3, 24, 24), dtype=torch.uint8)
    first = Augmenter(config, (0.5,) * 3, (0.25,) * 3, seed=3, side=16)
    assert "RandomResizedCrop(16" in first.describe()
    first.train(images)
    state = first.state_dict()
    expected = first.train(images)
    second = Augmenter(config, (0.5,) * 3, (0.25,) * 3, seed=3, side=16)
    second.load_state_dict(state)
    assert expected.shape == (8, 3, 16, 16) and torch.equal(second.train(images), expected)
    third = Augmenter(config, (0.5,) * 3, (0.25,) * 3, seed=4, side=16)
    assert not torch.equal(third.train(images), first.train(images))


def test_a_crop_without_a_square_side_is_refused_before_training():
    from retain.errors import ConfigError

    augmenter = Augmenter(AugmentConfig(resized_crop=True), (0.5,) * 3, (0.25,) * 3)
    augmenter.check_shape((3, 12, 12))  # square: crops back to 12×12
    assert augmenter.train(torch.zeros(2, 3, 12, 12, dtype=torch.uint8)).shape == (2, 3, 12, 12)
    with pytest.raises(ConfigError, match=r"images are 10×12 and data.image_size is unset"):
        augmenter.check_shape((3, 10, 12))
    Augmenter(AugmentConfig(resized_crop=True), (0.5,) * 3, (0.25,) * 3, side=8).check_shape((3, 10, 12))
