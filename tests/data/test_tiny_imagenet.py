"""Tiny-ImageNet's real layout (wnids, words, val_annotations) from a folder and from its zip."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
import torch

from retain.data import load_dataset, tinyimagenet
from retain.errors import DatasetError

pytestmark = pytest.mark.filterwarnings("ignore:Dataset 'tiny-imagenet' was registered with")

WNIDS = ["n02000001", "n01000002", "n03000003"]  # deliberately unsorted, as in wnids.txt
WORDS = {"n01000002": "goldfish, Carassius auratus", "n02000001": "tabby, tabby cat", "n03000003": "lemon"}
COLORS = {"n01000002": (250, 0, 0), "n02000001": (0, 250, 0), "n03000003": (0, 0, 250)}
VAL = [("val_0.JPEG", "n03000003"), ("val_1.JPEG", "n01000002"), ("val_2.JPEG", "n03000003")]
# The fixture is a miniature: 3 of the 200 classes, with images of the declared 64×64 (another size is refused).


def _make_tiny(root: Path, write) -> None:
    (root).mkdir(parents=True)
    (root / "wnids.txt").write_text("\n".join(WNIDS) + "\n")
    lines = [f"{w}\t{WORDS[w]}" for w in WNIDS] + ["n09999999\tsomething unused"]
    (root / "words.txt").write_text("\n".join(lines) + "\n")
    for wnid in WNIDS:
        for i in range(2):
            write(root / "train" / wnid / "images" / f"{wnid}_{i}.JPEG", COLORS[wnid], size=(64, 64))
        (root / "train" / wnid / f"{wnid}_boxes.txt").write_text("ignored\n")
    for filename, wnid in VAL:
        write(root / "val" / "images" / filename, COLORS[wnid], size=(64, 64))
    annotations = "".join(f"{f}\t{w}\t0\t0\t7\t7\n" for f, w in VAL)
    (root / "val" / "val_annotations.txt").write_text(annotations)
    write(root / "test" / "images" / "test_0.JPEG", (1, 2, 3), size=(64, 64))  # unlabelled, unused


def _check(data) -> None:
    assert data.class_names == ["goldfish", "tabby", "lemon"]  # sorted wnids, first synonym
    assert data.train.images.shape == (6, 3, 64, 64) and data.test.images.shape == (3, 3, 64, 64)
    assert data.train.images.dtype == torch.uint8
    assert data.train.labels.tolist() == [0, 0, 1, 1, 2, 2]
    assert data.test.labels.tolist() == [2, 0, 2]
    # JPEG is lossy: the dominant channel of each image identifies its class colour.
    assert data.test.images.float().mean(dim=(2, 3)).argmax(dim=1).tolist() == [2, 0, 2]
    assert data.mean == (0.4802, 0.4481, 0.3975)


def test_loads_extracted_layout(tmp_path: Path, image_writer) -> None:
    _make_tiny(tmp_path / "tiny-imagenet-200", image_writer)
    _check(load_dataset("tiny-imagenet", data_dir=tmp_path, download=False))


def test_loads_zip_once_then_reuses_the_extraction(tmp_path: Path, image_writer, data_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _make_tiny(tmp_path / "src" / "tiny-imagenet-200", image_writer)
    data_dir = tmp_path / "downloads"
    data_dir.mkdir()
    with zipfile.ZipFile(data_dir / "tiny-imagenet-200.zip", "w") as bundle:
        for path in sorted((tmp_path / "src").rglob("*")):
            bundle.write(path, path.relative_to(tmp_path / "src"))
    _check(load_dataset("tiny-imagenet", data_dir=data_dir, download=False))
    assert (data_cache / "tiny-imagenet" / "tiny-imagenet-200" / "wnids.txt").is_file()

    def no_extraction(*args, **kwargs):
        raise AssertionError("the archive must be extracted only once")

    monkeypatch.setattr(tinyimagenet, "extract_zip", no_extraction)
    _check(load_dataset("tiny-imagenet", data_dir=data_dir, download=False))


def test_zip_with_escaping_member_is_refused(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "tiny-imagenet-200.zip", "w") as bundle:
        bundle.writestr("tiny-imagenet-200/wnids.txt", "n01\n")
        bundle.writestr("../../escaped.txt", "owned")
    with pytest.raises(DatasetError, match="escaped.txt.*outside"):
        load_dataset("tiny-imagenet", data_dir=tmp_path, download=False)
    assert not list(tmp_path.parent.rglob("escaped.txt"))


def test_annotation_with_unknown_wnid_names_the_line(tmp_path: Path, image_writer) -> None:
    root = tmp_path / "tiny-imagenet-200"
    _make_tiny(root, image_writer)
    with open(root / "val" / "val_annotations.txt", "a") as handle:
        handle.write("val_2.JPEG\tn07777777\t0\t0\t7\t7\n")
    with pytest.raises(DatasetError, match="Line 4 of .*val_annotations.txt"):
        load_dataset("tiny-imagenet", data_dir=tmp_path, download=False)


def test_missing_dataset_lists_the_archive_and_folders(tmp_path: Path, data_cache: Path) -> None:
    with pytest.raises(DatasetError) as info:
        load_dataset("tiny-imagenet", data_dir=tmp_path, download=False)
    message = str(info.value)
    assert "tiny-imagenet-200.zip" in message and "val_annotations.txt" in message
    assert str(tmp_path / "tiny-imagenet") in message and str(data_cache) not in message  # only data.dir is looked at
