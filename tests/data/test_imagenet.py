"""ImageNet: the shipped class lists, the folder listing (a subset in the list's order, a flat val/
refused) and the loader, on a small generated folder of JPEGs of varied sizes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from retain.data import declared_geometry, load_dataset
from retain.data.imagenet import CLASS_LISTS, list_imagenet, read_class_list, shipped_class_lists
from retain.errors import ConfigError, DatasetError, DatasetNotFound

WNIDS = ["n00000003", "n00000001", "n00000002", "n00000004"]


def _jpeg(path: Path, size: tuple[int, int], value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (value, 255 - value, value // 2)).save(path, format="JPEG")


@pytest.fixture
def imagenet_dir(tmp_path: Path) -> Path:
    """train/<wnid>/ with 3 images and val/<wnid>/ with 2, sizes and aspect ratios varied."""
    root = tmp_path / "ilsvrc"
    for c, wnid in enumerate(sorted(WNIDS)):
        for i in range(3):
            _jpeg(root / "train" / wnid / f"{wnid}_{i}.JPEG", (40 + 17 * i, 30 + 11 * c), 20 * c + i)
        for i in range(2):
            _jpeg(root / "val" / wnid / f"ILSVRC2012_val_{c}{i}.JPEG", (50, 35 + 9 * i), 20 * c + 10)
    return root


def test_the_shipped_lists_hold_unique_wnids_one_per_line():
    assert {"imagenet1k", "imagenet100-lucir-seed1993", "imagenet1k-rm-rand1"} <= set(shipped_class_lists())
    for name in shipped_class_lists():
        text = (CLASS_LISTS / f"{name}.txt").read_text()
        lines = text.splitlines()
        assert text.endswith("\n") and all(len(w) == 9 and w[0] == "n" and w[1:].isdigit() for w in lines), name
        assert len(set(lines)) == len(lines), name
    assert len(read_class_list("imagenet1k")) == 1000 == len(read_class_list("imagenet1k-rm-rand1"))
    assert read_class_list("imagenet1k") == sorted(read_class_list("imagenet1k"))  # torchvision ImageFolder's order
    assert sorted(read_class_list("imagenet1k-rm-rand1")) == read_class_list("imagenet1k")  # a reordering of the same 1000


def test_the_lucir_subset_is_what_gen_imagenet_subset_draws():
    # LUCIR/MRDC gen_imagenet_subset.py: np.random.seed(1993); np.random.choice(sorted classes, 100, replace=False);
    # ImageFolder then labels the subset folder in sorted order.
    subset = read_class_list("imagenet100-lucir-seed1993")
    drawn = np.random.RandomState(1993).choice(read_class_list("imagenet1k"), 100, replace=False)
    assert len(subset) == 100 and subset == sorted(str(w) for w in drawn)
    assert subset != sorted(read_class_list("imagenet1k"))[:100]  # not the first 100 classes


def test_a_class_list_selects_and_orders_the_classes(imagenet_dir, tmp_path):
    chosen = tmp_path / "mine.txt"
    chosen.write_text("n00000003\nn00000001\n")
    listing = list_imagenet(imagenet_dir, read_class_list(str(chosen)))
    assert listing.class_names == ["n00000003", "n00000001"]
    assert {label for _, label in listing.train} == {0, 1} and len(listing.train) == 6 and len(listing.test) == 4
    assert all(path.parent.name == ["n00000003", "n00000001"][label] for path, label in listing.train + listing.test)
    whole = list_imagenet(imagenet_dir)
    assert whole.class_names == sorted(WNIDS) and len(whole.train) == 12


def test_loading_decodes_every_image_to_224_with_the_imagenet_statistics(imagenet_dir, tmp_path):
    chosen = tmp_path / "mine.txt"
    chosen.write_text("n00000004\nn00000002\n")
    dataset = load_dataset("imagenet", data_dir=imagenet_dir, options={"classes": str(chosen)})
    assert dataset.image_shape == (3, 224, 224) and dataset.class_names == ["n00000004", "n00000002"]
    assert dataset.train.labels.tolist() == [0, 0, 0, 1, 1, 1] and len(dataset.test) == 4
    assert dataset.mean == (0.485, 0.456, 0.406) and dataset.std == (0.229, 0.224, 0.225)
    # Label 0 is n00000004, the 4th sorted folder, whose images were written with value 60 + i.
    assert abs(int(dataset.train.images[0, 0].float().mean()) - 60) <= 2


def test_the_raw_flat_val_folder_is_refused_with_how_to_sort_it(imagenet_dir):
    for folder in (imagenet_dir / "val").iterdir():
        for image in folder.iterdir():
            image.rename(imagenet_dir / "val" / image.name)
        folder.rmdir()
    with pytest.raises(DatasetError) as error:
        list_imagenet(imagenet_dir)
    assert "flat" in str(error.value) and "val/<wnid>/" in str(error.value) and "LOC_val_solution.csv" in str(error.value)


def test_a_selected_class_without_its_folder_is_named(imagenet_dir, tmp_path):
    chosen = tmp_path / "mine.txt"
    chosen.write_text("n00000001\nn09999999\n")
    with pytest.raises(DatasetError, match="n09999999"):
        list_imagenet(imagenet_dir, read_class_list(str(chosen)))


@pytest.mark.parametrize("text, needle", [("n0000001\n", "line 1"), ("n00000001\nn00000001\n", "twice"), ("\n", "no wnid")])
def test_a_malformed_class_list_is_refused(tmp_path, text, needle):
    bad = tmp_path / "bad.txt"
    bad.write_text(text)
    with pytest.raises(ConfigError, match=needle):
        read_class_list(str(bad))
    with pytest.raises(ConfigError, match="neither a class list shipped"):
        read_class_list(str(tmp_path / "absent.txt"))


def test_the_declared_geometry_follows_the_class_list():
    assert declared_geometry("imagenet") == ((3, 224, 224), 1000)
    assert declared_geometry("imagenet", {"classes": "imagenet100-lucir-seed1993"}) == ((3, 224, 224), 100)


def test_without_the_folder_it_says_where_it_looked_and_how_to_get_it(tmp_path):
    with pytest.raises(DatasetNotFound) as error:
        load_dataset("imagenet", data_dir=tmp_path)
    assert str(tmp_path) in str(error.value) and "image-net.org" in str(error.value)


def test_two_class_lists_of_one_folder_keep_two_decoded_caches(imagenet_dir, tmp_path, data_cache):
    first, second = tmp_path / "first.txt", tmp_path / "second.txt"
    first.write_text("n00000001\n")
    second.write_text("n00000002\nn00000001\n")
    for chosen in (first, second):
        load_dataset("imagenet", data_dir=imagenet_dir, options={"classes": str(chosen)})
    assert len(list((data_cache / "imagenet").glob("decoded-*"))) == 2
