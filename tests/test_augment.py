"""Tests of retain.augment: batched uint8 ops, policies, the Augmenter and CutMix."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image, ImageEnhance, ImageOps
from pydantic import ValidationError

import retain.augment as A
from retain.augment.policies import OP, apply_stage
from retain.errors import ConfigError

SHAPES = [(1, 28, 28), (3, 32, 32)]


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def random_images(n: int, shape: tuple[int, int, int], seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (n, *shape), dtype=torch.uint8, generator=gen(seed))


def to_pil(image: torch.Tensor) -> Image.Image:
    array = image.permute(1, 2, 0).numpy()
    return Image.fromarray(array[..., 0] if array.shape[2] == 1 else array)


def from_pil(image: Image.Image, channels: int) -> torch.Tensor:
    array = np.array(image)
    return torch.from_numpy(array.reshape(*array.shape[:2], channels)).permute(2, 0, 1)


def pil_map(images: torch.Tensor, fn) -> torch.Tensor:
    return torch.stack([from_pil(fn(to_pil(image)), images.shape[1]) for image in images])


# --------------------------------------------------------------------------- every op
OPS = {
    "random_crop": lambda x, g: A.random_crop(x, 4, g),
    "horizontal_flip": lambda x, g: A.horizontal_flip(x, g),
    "vertical_flip": lambda x, g: A.vertical_flip(x, g),
    "cutout": lambda x, g: A.cutout(x, 16, g),
    "color_jitter": lambda x, g: A.color_jitter(x, g, 0.4, 0.4, 0.4),
    "randaugment": lambda x, g: A.randaugment(x, g),
    "autoaugment": lambda x, g: A.autoaugment_cifar10(x, g),
    "random_rotation": lambda x, g: A.random_rotation(x, 30, g),
    **{f"rm:{p.name}": p for p in A.rm_perturbations()},
}


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", sorted(OPS))
def test_every_op_keeps_dtype_shape_and_input(name, shape):
    images = random_images(12, shape)
    before = images.clone()
    out = OPS[name](images, gen(1))
    assert out.dtype == torch.uint8 and out.shape == images.shape
    assert torch.equal(images, before)  # never in place


# --------------------------------------------------------------------------- PIL oracle
@pytest.mark.parametrize("shape", SHAPES)
def test_pixel_ops_match_pil(shape):
    images = random_images(4, shape)
    images[1] = images[1] // 4 + 50  # a low-contrast image for autocontrast/equalize
    assert torch.equal(A.equalize(images), pil_map(images, ImageOps.equalize))
    assert torch.equal(A.posterize(images, 5), pil_map(images, lambda im: ImageOps.posterize(im, 5)))
    assert torch.equal(A.solarize(images, 100.5), pil_map(images, lambda im: ImageOps.solarize(im, 100.5)))
    assert torch.equal(A.invert(images), pil_map(images, ImageOps.invert))
    diff = (A.autocontrast(images).int() - pil_map(images, ImageOps.autocontrast).int()).abs()
    assert diff.max() <= 1
    for factor in (0.3, 1.7):
        for mine, enhancer in (
            (A.adjust_brightness, ImageEnhance.Brightness),
            (A.adjust_contrast, ImageEnhance.Contrast),
            (A.adjust_sharpness, ImageEnhance.Sharpness),
            (A.adjust_saturation, ImageEnhance.Color),
        ):
            expected = pil_map(images, lambda im: enhancer(im).enhance(factor))
            assert (mine(images, factor).int() - expected.int()).abs().max() <= 1, enhancer.__name__


def test_affine_warps_match_pil():
    images = random_images(3, (3, 16, 16))
    for degrees in (30.0, 90.0, -10.0):
        assert torch.equal(A.rotate(images, degrees), pil_map(images, lambda im: im.rotate(degrees)))
    assert torch.equal(A.rotate(images, 90.0), torch.rot90(images, 1, dims=(2, 3)))
    matrices = torch.tensor([[1.0, 0.0, 3.3], [0.0, 1.0, -5.0]]).repeat(3, 1, 1)
    coefficients = (1, 0, 3.3, 0, 1, -5.0)
    expected = pil_map(images, lambda im: im.transform((16, 16), Image.AFFINE, coefficients, fillcolor=(128,) * 3))
    assert torch.equal(A.warp_affine(images, matrices, fill=128), expected)


# --------------------------------------------------------------------------- crop, flip, cutout
def test_random_crop_shifts_by_at_most_padding_and_zero_fills():
    pad = 3
    images = (torch.arange(6 * 1 * 10 * 10) % 250 + 1).to(torch.uint8).reshape(6, 1, 10, 10)
    out = A.random_crop(images, pad, gen(3))
    padded = F.pad(images, (pad,) * 4)
    shifts = set()
    for i in range(images.shape[0]):
        matches = [
            (dy, dx)
            for dy in range(2 * pad + 1)
            for dx in range(2 * pad + 1)
            if torch.equal(out[i], padded[i, :, dy : dy + 10, dx : dx + 10])
        ]
        assert len(matches) == 1
        shifts.add(matches[0])
    assert len(shifts) > 1
    assert torch.equal(A.random_crop(images, 0, gen()), images)


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (3, 7, 11)])
def test_random_crop_equals_per_sample_slicing_with_the_same_draws(shape):
    # The crop reads each window from a strided view of the whole padded batch; a per-sample
    # slice of the padded image at the offsets drawn from the same generator is the reference.
    pad, images = 4, random_images(9, shape, seed=2)
    out = A.random_crop(images, pad, gen(7))
    g = gen(7)
    offset_y = torch.randint(0, 2 * pad + 1, (9,), generator=g)
    offset_x = torch.randint(0, 2 * pad + 1, (9,), generator=g)
    padded = F.pad(images, (pad,) * 4)
    _, h, w = shape
    expected = torch.stack([padded[i, :, y : y + h, x : x + w] for i, (y, x) in enumerate(zip(offset_y, offset_x))])
    assert torch.equal(out, expected)
    assert A.random_crop(images[:0], pad, gen()).shape == (0, *shape)


def test_horizontal_flip_flips_exactly_the_chosen_samples():
    images = random_images(64, (3, 8, 8))
    out = A.horizontal_flip(images, gen(5), p=0.5)
    flipped = torch.tensor([torch.equal(o, x.flip(-1)) for o, x in zip(out, images)])
    kept = torch.tensor([torch.equal(o, x) for o, x in zip(out, images)])
    assert torch.all(flipped ^ kept)
    assert torch.equal(flipped, torch.rand(64, generator=gen(5)) < 0.5)
    assert 0 < flipped.sum() < 64
    assert torch.equal(A.horizontal_flip(images, gen(), p=0.0), images)
    assert torch.equal(A.horizontal_flip(images, gen(), p=1.0), images.flip(-1))


@pytest.mark.parametrize("size", [8, 5])
def test_cutout_zeroes_one_square_of_the_right_size(size):
    n, h, w = 200, 24, 24
    images = torch.full((n, 3, h, w), 200, dtype=torch.uint8)
    out = A.cutout(images, size, gen(2))
    zero = out == 0
    assert torch.all(zero.all(1) | (out == 200).all(1))  # all channels together
    interior = 0
    for mask in zero[:, 0]:
        rows, cols = mask.any(1).nonzero().flatten(), mask.any(0).nonzero().flatten()
        top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
        assert mask.sum() == (bottom - top) * (right - left)  # a filled rectangle
        assert bottom - top <= size and right - left <= size
        if top > 0 and left > 0 and bottom < h and right < w:
            assert bottom - top == size and right - left == size
            interior += 1
    assert interior > 0


def test_color_jitter_factors_stay_in_range():
    images = torch.full((50, 1, 4, 4), 100, dtype=torch.uint8)
    out = A.color_jitter(images, gen(), brightness=0.5)
    assert out.min() >= 50 and out.max() <= 150
    assert len(out.unique()) > 10
    assert torch.equal(A.color_jitter(images, gen()), images)


# --------------------------------------------------------------------------- policies
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("policy", [A.randaugment, A.autoaugment_cifar10])
def test_policies_change_images_and_are_seeded(policy, shape):
    images = random_images(32, shape)
    out = policy(images, gen(4))
    assert out.dtype == torch.uint8 and out.shape == images.shape
    changed = (out != images).flatten(1).any(1)
    assert 0 < changed.sum() < 32  # every op runs with probability < 1
    assert torch.equal(policy(images, gen(4)), out)
    assert not torch.equal(policy(images, gen(5)), out)


def test_policy_stage_applies_each_samples_own_operation():
    images = random_images(10, (3, 16, 16))
    names = ["Invert", "Posterize", "Solarize", "Equalize", "AutoContrast"] * 2
    ops = torch.tensor([OP[name] for name in names])
    levels = torch.full((10,), 8)  # Posterize keeps 4 bits, Solarize at 256/9
    active = torch.tensor([True] * 5 + [False] * 5)
    out = apply_stage(images, ops, levels, active, gen())
    expected = [A.invert, lambda x: A.posterize(x, 4), lambda x: A.solarize(x, 256 / 9), A.equalize, A.autocontrast]
    for i, fn in enumerate(expected):
        assert torch.equal(out[i], fn(images[i : i + 1])[0])
    assert torch.equal(out[5:], images[5:])


def test_rm_perturbations_are_the_twelve_of_rm():
    perturbations = A.rm_perturbations()
    assert [p.name for p in perturbations] == [
        "Cutout(8)", "Cutout(16)", "Cutout(24)", "Cutout(32)", "HFlip", "VFlip",
        "Rotation(45)", "Rotation(90)", "Invert", "Solarize(128)", "Solarize(64)", "Solarize(32)",
    ]  # fmt: skip
    images = random_images(4, (3, 32, 32))
    solarize_128 = perturbations[9](images, gen())
    assert torch.equal(solarize_128, pil_map(images, lambda im: ImageOps.solarize(im, 128)))
    painted = perturbations[1](torch.zeros(4, 3, 32, 32, dtype=torch.uint8), gen())
    colours = {tuple(painted[i, :, y, x].tolist()) for i, y, x in painted.amax(1).nonzero().tolist()}
    assert colours == {(125, 122, 113)}  # RM's Cutout colour
    assert len(A.rm_randaugment_perturbations()) == 12


# --------------------------------------------------------------------------- Augmenter
MEAN, STD = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
FULL = A.AugmentConfig(
    crop_padding=4, flip=True, brightness=0.3, contrast=0.2, saturation=0.2,
    cutout=8, randaugment=True, autoaugment="cifar10",
)  # fmt: skip


def test_eval_is_deterministic_normalisation():
    images = random_images(5, (3, 32, 32))
    augmenter = A.Augmenter(FULL, MEAN, STD, seed=1)
    expected = (images.float() / 255 - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    assert torch.allclose(augmenter.eval(images), expected, atol=1e-6)
    assert torch.equal(augmenter.eval(images), augmenter.eval(images))
    plain = A.Augmenter(A.AugmentConfig(normalize=False), MEAN, STD)
    assert torch.allclose(plain.eval(images), images.float() / 255)
    assert torch.allclose(augmenter.to_float(images), images.float() / 255)


@pytest.mark.parametrize("shape", SHAPES)
def test_train_is_seeded_and_resumable(shape):
    images = random_images(16, shape)
    mean, std = MEAN[: shape[0]], STD[: shape[0]]
    first = A.Augmenter(FULL, mean, std, seed=7)
    out = first.train(images)
    assert out.dtype == torch.float32 and out.shape == images.shape
    assert torch.equal(A.Augmenter(FULL, mean, std, seed=7).train(images), out)
    assert not torch.equal(A.Augmenter(FULL, mean, std, seed=8).train(images), out)
    assert not torch.allclose(out, first.eval(images))
    state = first.state_dict()
    following = first.train(images)
    resumed = A.Augmenter(FULL, mean, std, seed=123)
    resumed.load_state_dict(state)
    assert torch.equal(resumed.train(images), following)


def test_describe_lists_the_composed_transform():
    text = A.Augmenter(FULL, MEAN, STD).describe()
    order = [
        "RandomCrop(padding=4", "RandomHorizontalFlip", "ColorJitter",
        "RandAugment", "AutoAugment(CIFAR-10", "Cutout(8", "Normalize",
    ]  # fmt: skip
    positions = [text.index(step) for step in order]
    assert positions == sorted(positions)
    bare = A.Augmenter(A.AugmentConfig(normalize=False), MEAN, STD).describe()
    assert "RandomCrop" not in bare and "Normalize" not in bare


def test_config_errors_name_the_field_and_range():
    with pytest.raises(ValidationError) as info:
        A.AugmentConfig(crop_padding=-1)
    assert "crop_padding" in str(info.value) and "greater than or equal to 0" in str(info.value)
    with pytest.raises(ValidationError, match="cutout"):
        A.AugmentConfig(cutout=-4)
    with pytest.raises(ValidationError, match="'none' or 'cifar10'"):
        A.AugmentConfig(autoaugment="imagenet")
    with pytest.raises(ValidationError, match="flipp"):
        A.AugmentConfig(flipp=True)
    with pytest.raises(ConfigError, match="std"):
        A.Augmenter(A.AugmentConfig(), MEAN, (0.2, 0.0, 0.3))
    with pytest.raises(TypeError):
        A.Augmenter(A.AugmentConfig(), MEAN, STD).train(torch.zeros(2, 3, 4, 4))


# --------------------------------------------------------------------------- CutMix
def _applied_cutmix(images, labels, seed=0):
    for offset in range(100):
        result = A.cutmix(images, labels, gen(seed + offset), alpha=1.0, p=0.5)
        if result.applied and result.lam < 1 and not torch.equal(result.labels_b, labels):
            return result
    raise AssertionError("CutMix never applied")


def test_cutmix_lambda_is_the_unpasted_area():
    n, h, w = 8, 16, 12
    images = torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 3, h, w).clone()
    labels = torch.arange(n)
    result = _applied_cutmix(images, labels)
    assert torch.equal(images, torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 3, h, w))
    moved = result.labels_b != labels
    pasted = result.images != images
    box = pasted[moved][0, 0]
    assert all(torch.equal(mask[0], box) for mask in pasted[moved])  # one box for the batch
    assert not pasted[~moved].any()
    assert result.lam == pytest.approx(1 - box.sum().item() / (h * w))
    inside = result.images[:, 0][:, box]
    assert torch.equal(inside, result.labels_b.float()[:, None].expand_as(inside))


def test_mixed_cross_entropy_matches_hand_computation():
    images = torch.randn(8, 3, 16, 16, generator=gen())
    labels = torch.arange(8) % 5
    result = _applied_cutmix(images, labels, seed=10)
    logits = torch.randn(8, 5, generator=gen(1))
    log_p = logits.log_softmax(1)
    ce_a = -log_p[torch.arange(8), result.labels_a].mean()
    ce_b = -log_p[torch.arange(8), result.labels_b].mean()
    expected = result.lam * ce_a + (1 - result.lam) * ce_b
    assert torch.allclose(A.mixed_cross_entropy(logits, result), expected)


def test_cutmix_with_p_zero_changes_nothing_and_general_alpha_is_seeded():
    images = torch.randn(6, 3, 8, 8, generator=gen())
    labels = torch.arange(6)
    result = A.cutmix(images, labels, gen(), p=0.0)
    assert not result.applied and result.lam == 1.0
    assert torch.equal(result.images, images) and torch.equal(result.labels_b, labels)
    logits = torch.randn(6, 6, generator=gen(2))
    assert torch.allclose(A.mixed_cross_entropy(logits, result), F.cross_entropy(logits, labels))
    first = A.cutmix(images, labels, gen(3), alpha=0.4, p=1.0)
    second = A.cutmix(images, labels, gen(3), alpha=0.4, p=1.0)
    assert first.applied and 0.0 <= first.lam <= 1.0
    assert first.lam == second.lam and torch.equal(first.images, second.images)
    with pytest.raises(ValueError):
        A.cutmix(images, labels, gen(), alpha=0.0)


def test_augment_mean_and_std_replace_the_datasets_statistics():
    from retain.config import AugmentConfig
    from retain.errors import ConfigError

    images = torch.full((2, 3, 4, 4), 51, dtype=torch.uint8)  # 0.2 after /255
    lucir = A.Augmenter(AugmentConfig(mean=[0.1, 0.1, 0.1], std=[0.2009, 0.1984, 0.2023]), (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    out = lucir.eval(images)
    expected = torch.tensor([(0.2 - 0.1) / s for s in (0.2009, 0.1984, 0.2023)])
    torch.testing.assert_close(out[0, :, 0, 0], expected, rtol=1e-5, atol=1e-6)
    own = A.Augmenter(AugmentConfig(), (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)).eval(images)
    torch.testing.assert_close(own[0, :, 0, 0], torch.full((3,), (0.2 - 0.5) / 0.25), rtol=1e-5, atol=1e-6)
    with pytest.raises(ConfigError, match=r"augment\.std=\[0\.2, 0\.2\] has 2 values, but the dataset has 3"):
        A.Augmenter(AugmentConfig(std=[0.2, 0.2]), (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    with pytest.raises(ValueError, match="augment.std"):
        AugmentConfig(std=[0.2, -0.1, 0.2])


# --------------------------------------------------------------------------- sizes that cannot fit the images
def test_augmentation_sizes_that_cannot_fit_the_images_are_refused_naming_the_field_and_the_size():
    from retain.augment.fit import check_augment_fits
    from retain.errors import ConfigError

    check_augment_fits(A.AugmentConfig(cutout=8, crop_padding=7), (1, 8, 8), "digits")  # the largest that fit
    with pytest.raises(ConfigError, match=r"augment.cutout=100 .* 8x8 images of dataset 'digits'.*every image entirely.*0 \(off\) to 8"):
        check_augment_fits(A.AugmentConfig(cutout=100), (1, 8, 8), "digits")
    with pytest.raises(ConfigError, match=r"augment.cutout=9 .*most of each image"):
        check_augment_fits(A.AugmentConfig(cutout=9), (1, 8, 8), "digits")
    with pytest.raises(ConfigError, match=r"augment.crop_padding=32 .* 32x32 .* 0 \(off\) to 31"):
        check_augment_fits(A.AugmentConfig(crop_padding=32), (3, 32, 32), "cifar10")


def test_a_run_with_a_cutout_wider_than_the_digits_is_refused_before_anything_is_written(tmp_path):
    from typer.testing import CliRunner

    from retain.cli import app

    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", "--preset", "demo", "-q", "--set", "augment.cutout=100", "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert "augment.cutout=100" in result.output and "8x8" in result.output
    assert not out.exists()
