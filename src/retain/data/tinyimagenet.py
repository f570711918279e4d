"""Tiny-ImageNet-200: train/<wnid>/images/*.JPEG, val/images + val_annotations.txt, words.txt."""

from __future__ import annotations

from pathlib import Path

from retain.data.archive import extract_zip
from retain.data.base import Dataset, LoadRequest
from retain.data.cache import dataset_cache_dir
from retain.data.decode import FolderListing
from retain.data.imagefolder import scan_class_folders
from retain.data.locate import RemoteSource, locate
from retain.data.storage import load_listing
from retain.errors import DatasetError

FOLDER = "tiny-imagenet-200"
ARCHIVE = "tiny-imagenet-200.zip"
OFFICIAL_URL = "http://cs231n.stanford.edu/"
CHECKSUMS = {ARCHIVE: "90528d7ca1a48142e341f4ef8d21d0de"}
MEAN = (0.4802, 0.4481, 0.3975)
STD = (0.2302, 0.2265, 0.2262)
LAYOUT = (
    f"the archive {ARCHIVE}, or its folder {FOLDER}/ with wnids.txt, words.txt, "
    "train/<wnid>/images/*.JPEG and val/images/*.JPEG + val/val_annotations.txt"
)


def load_tiny_imagenet(request: LoadRequest) -> Dataset:
    """Tiny-ImageNet with the labelled val split as test split (3×64×64 unless resized)."""
    source = RemoteSource(official_url=OFFICIAL_URL, checksums=CHECKSUMS, layout=LAYOUT)
    root = locate(request, source, lambda folder: _find(folder, dataset_cache_dir(request.name)))
    listing = list_tiny_imagenet(root)
    train, test, note = load_listing(request, listing)
    return Dataset(request.name, train, test, listing.class_names, MEAN, STD, notes=[note])


def _find(folder: Path, cache: Path) -> Path | None:
    """An extracted root in `folder`, else `folder`'s archive extracted into the cache."""
    for root in (folder / FOLDER, folder):
        if _is_root(root):
            return root
    archive = folder / ARCHIVE
    if not archive.is_file():
        return None
    extracted = cache / FOLDER
    return extracted if _is_root(extracted) else extract_zip(archive, extracted, inner=FOLDER)


def _is_root(folder: Path) -> bool:
    return (folder / "train").is_dir() and (folder / "val").is_dir()


def list_tiny_imagenet(root: Path) -> FolderListing:
    """Labelled files of an extracted Tiny-ImageNet; class ids follow the sorted wnids."""
    wnids_file = root / "wnids.txt"
    if wnids_file.is_file():
        wnids = sorted({line.strip() for line in wnids_file.read_text().splitlines() if line.strip()})
    else:
        wnids = sorted(p.name for p in (root / "train").iterdir() if p.is_dir())
    class_index = {wnid: i for i, wnid in enumerate(wnids)}
    train = scan_class_folders(root / "train", class_index, require_all=True)
    annotations = root / "val" / "val_annotations.txt"
    if annotations.is_file():
        test = _read_val_annotations(annotations, root / "val" / "images", class_index)
    else:  # some copies are re-sorted into val/<wnid>/ folders
        test = scan_class_folders(root / "val", class_index, require_all=False)
    extra = [f for f in (wnids_file, root / "words.txt", annotations) if f.is_file()]
    return FolderListing(root, _class_names(root / "words.txt", wnids), train, test, extra)


def _read_val_annotations(path: Path, images: Path, class_index: dict[str, int]) -> list[tuple[Path, int]]:
    items: list[tuple[Path, int]] = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        fields = line.split("\t")
        if not line.strip():
            continue
        if len(fields) < 2 or fields[1] not in class_index:
            raise DatasetError(
                f"Line {number} of {path} is {line!r}; expected '<file>\\t<wnid>\\t...' with a wnid "
                "listed in wnids.txt."
            )
        image = images / fields[0]
        if not image.is_file():
            raise DatasetError(f"{path} (line {number}) names the image {image}, which does not exist.")
        items.append((image, class_index[fields[1]]))
    if not items:
        raise DatasetError(f"{path} lists no validation images; expected one '<file>\\t<wnid>' line per image.")
    return sorted(items)


def _class_names(words_file: Path, wnids: list[str]) -> list[str]:
    """The first synonym of each wnid from words.txt ("n01443537\\tgoldfish, Carassius auratus")."""
    words: dict[str, str] = {}
    if words_file.is_file():
        for line in words_file.read_text().splitlines():
            wnid, _, names = line.partition("\t")
            words[wnid.strip()] = names.split(",")[0].strip()
    return [words.get(wnid) or wnid for wnid in wnids]
