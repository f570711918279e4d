"""Any class-per-folder image dataset: `<root>/train/<class>/**/*.png` and `<root>/val|test/`."""

from __future__ import annotations

from pathlib import Path

from retain.data.base import Dataset, LoadRequest
from retain.data.decode import FolderListing, is_image_file
from retain.data.storage import load_listing, split_stats
from retain.errors import ConfigError, DatasetError

TEST_SPLIT_NAMES = ("val", "test")  # the first that exists is the test split
LAYOUT = (
    "<root>/train/<class>/**/*.{jpg,jpeg,png,bmp} and <root>/val/<class>/... or "
    "<root>/test/<class>/... (one folder per class, the same class names in both splits)"
)


def load_imagefolder(request: LoadRequest) -> Dataset:
    """Images under `request.data_dir`, RGB uint8; mean/std computed from the train split."""
    if request.data_dir is None:
        raise ConfigError(
            "Dataset 'imagefolder' needs data_dir (config field data.dir): the folder holding "
            f"{LAYOUT}. It has no default location and cannot be downloaded."
        )
    listing = list_image_folders(request.data_dir)
    train, test, note = load_listing(request, listing)
    mean, std = split_stats(train)
    return Dataset(request.name, train, test, listing.class_names, mean, std, notes=[note])


def list_image_folders(root: Path) -> FolderListing:
    """Labelled files of `root`; class ids follow the sorted train folder names."""
    train_dir = root / "train"
    test_dir = next((root / n for n in TEST_SPLIT_NAMES if (root / n).is_dir()), None)
    if not train_dir.is_dir() or test_dir is None:
        present = sorted(p.name for p in root.iterdir()) if root.is_dir() else "the folder does not exist"
        raise DatasetError(
            f"Image folder {root} does not have the expected layout {LAYOUT}; found: {present}."
        )
    class_names = sorted(p.name for p in train_dir.iterdir() if p.is_dir())
    if not class_names:
        raise DatasetError(f"Image folder {train_dir} has no class subfolders; expected {LAYOUT}.")
    class_index = {name: i for i, name in enumerate(class_names)}
    train = scan_class_folders(train_dir, class_index, require_all=True)
    test = scan_class_folders(test_dir, class_index, require_all=False)
    return FolderListing(root=root, class_names=class_names, train=train, test=test)


def scan_class_folders(split_dir: Path, class_index: dict[str, int], require_all: bool) -> list[tuple[Path, int]]:
    """(file, label) for every image below `split_dir/<class>/`, in sorted order.

    Test folders may lack classes; a folder naming an unknown class is an error, as is a train
    class folder without images (its label would silently never occur).
    """
    folders = sorted(p for p in split_dir.iterdir() if p.is_dir())
    unknown = [p.name for p in folders if p.name not in class_index]
    if unknown:
        raise DatasetError(
            f"Image folder {split_dir} has class folders {unknown} that are not in the train "
            f"split; known classes: {sorted(class_index)}."
        )
    items: list[tuple[Path, int]] = []
    for folder in folders:
        files = sorted(p for p in folder.rglob("*") if is_image_file(p))
        if not files and require_all:
            raise DatasetError(
                f"Class folder {folder} holds no images with extension jpg, jpeg, png or bmp; "
                "remove the folder or add its images."
            )
        items += [(path, class_index[folder.name]) for path in files]
    if not items:
        raise DatasetError(f"Image folder {split_dir} holds no images; expected {LAYOUT}.")
    return items
