"""ImageFolder: decoding PNG class folders, the .npy cache and its invalidation, size handling."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from retain.data import load_dataset
from retain.errors import ConfigError, DatasetError

COLORS = {"cat": (200, 10, 30), "dog": (5, 120, 250)}


def _make_folder(root: Path, write, test_split: str = "val") -> None:
    write(root / "train" / "cat" / "a.png", COLORS["cat"])
    write(root / "train" / "cat" / "nested" / "b.PNG", COLORS["cat"])
    write(root / "train" / "dog" / "c.png", COLORS["dog"])
    write(root / test_split / "dog" / "d.png", COLORS["dog"])
    write(root / test_split / "cat" / "e.bmp", COLORS["cat"])
    (root / "train" / "dog" / "notes.txt").write_text("not an image")


@pytest.mark.parametrize("test_split", ["val", "test"])
def test_decodes_class_folders(tmp_path: Path, image_writer, test_split: str) -> None:
    _make_folder(tmp_path, image_writer, test_split)
    data = load_dataset("imagefolder", data_dir=tmp_path)
    assert data.class_names == ["cat", "dog"]
    # Images are 6 wide and 5 high: N×C×H×W.
    assert data.train.images.shape == (3, 3, 5, 6) and data.test.images.shape == (2, 3, 5, 6)
    assert data.train.images.dtype == torch.uint8 and data.train.labels.dtype == torch.int64
    assert data.train.labels.tolist() == [0, 0, 1] and data.test.labels.tolist() == [0, 1]
    assert data.train.images[2, :, 4, 5].tolist() == list(COLORS["dog"])
    assert data.test.images[0, :, 0, 0].tolist() == list(COLORS["cat"])
    # Two cat images and one dog image in train: the mean is their weighted average.
    expected_mean = tuple((2 * c + d) / 3 / 255 for c, d in zip(COLORS["cat"], COLORS["dog"]))
    assert data.mean == pytest.approx(expected_mean)
    assert data.std[0] == pytest.approx(((200 - 5) / 255) * (2**0.5) / 3)


def test_second_load_uses_the_npy_cache(tmp_path: Path, image_writer, data_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _make_folder(tmp_path / "images", image_writer)
    first = load_dataset("imagefolder", data_dir=tmp_path / "images")
    assert list((data_cache / "imagefolder").glob("decoded-*/train_images.npy"))

    def no_decoding(*args, **kwargs):
        raise AssertionError("Pillow must not decode images when the cache is valid")

    monkeypatch.setattr(Image, "open", no_decoding)
    second = load_dataset("imagefolder", data_dir=tmp_path / "images")
    assert second.train.images.equal(first.train.images) and second.test.labels.equal(first.test.labels)


def test_a_changed_folder_invalidates_the_cache(tmp_path: Path, image_writer, monkeypatch: pytest.MonkeyPatch) -> None:
    _make_folder(tmp_path, image_writer)
    load_dataset("imagefolder", data_dir=tmp_path)
    image_writer(tmp_path / "train" / "dog" / "f.png", COLORS["dog"])
    opened: list[str] = []
    real_open = Image.open
    monkeypatch.setattr(Image, "open", lambda path, *a, **k: opened.append(str(path)) or real_open(path, *a, **k))
    data = load_dataset("imagefolder", data_dir=tmp_path)
    assert len(data.train) == 4 and any(p.endswith("f.png") for p in opened)


def test_image_of_another_size_is_named_unless_resizing(tmp_path: Path, image_writer) -> None:
    _make_folder(tmp_path, image_writer)
    image_writer(tmp_path / "train" / "dog" / "big.png", COLORS["dog"], size=(8, 7))
    with pytest.raises(DatasetError, match="big.png.*image_size"):
        load_dataset("imagefolder", data_dir=tmp_path)
    data = load_dataset("imagefolder", data_dir=tmp_path, image_size=(4, 3))
    assert data.image_shape == (3, 4, 3)
    # A uniform image stays uniform under bilinear resizing.
    assert data.train.images[2, :, 1, 1].tolist() == list(COLORS["dog"])
    assert load_dataset("imagefolder", data_dir=tmp_path, image_size=5).image_shape == (3, 5, 5)


def test_needs_a_data_dir() -> None:
    with pytest.raises(ConfigError, match="data_dir"):
        load_dataset("imagefolder")


def test_wrong_layout_is_described(tmp_path: Path, image_writer) -> None:
    image_writer(tmp_path / "cat" / "a.png", COLORS["cat"])
    with pytest.raises(DatasetError, match="train/<class>"):
        load_dataset("imagefolder", data_dir=tmp_path)


def test_unknown_test_class_is_rejected(tmp_path: Path, image_writer) -> None:
    _make_folder(tmp_path, image_writer)
    image_writer(tmp_path / "val" / "bird" / "x.png", COLORS["cat"])
    with pytest.raises(DatasetError, match="bird"):
        load_dataset("imagefolder", data_dir=tmp_path)


def test_undecodable_image_is_named(tmp_path: Path, image_writer) -> None:
    _make_folder(tmp_path, image_writer)
    (tmp_path / "train" / "dog" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DatasetError, match="broken.png"):
        load_dataset("imagefolder", data_dir=tmp_path)


def test_image_size_is_refused_for_fixed_size_datasets() -> None:
    with pytest.raises(ConfigError, match="image_size"):
        load_dataset("mnist", image_size=32)
