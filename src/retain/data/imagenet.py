"""ImageNet (ILSVRC-2012) in the class-per-folder layout: all 1000 classes, or the subset and order
of a class list (one wnid per line; shipped lists in `retain/data/classes/`, or a file of yours).

Listing (`list_imagenet`) is kept apart from loading, so that another representation of the same
files (an encoded cache) can be built from the listing.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from retain.data.base import Dataset, LoadRequest
from retain.data.decode import FolderListing, is_image_file, load_decoded
from retain.data.locate import candidate_dirs
from retain.data.storage import load_listing
from retain.errors import ConfigError, DatasetError, DatasetNotFound

CLASS_LISTS = Path(__file__).with_name("classes")
ALL_CLASSES = "imagenet1k"  # the 1000 ILSVRC-2012 wnids, sorted (torchvision ImageFolder's label order)
IMAGE_SIZE = (224, 224)  # what the in-memory path decodes to (each image resized to 224×224)
MEAN = (0.485, 0.456, 0.406)  # the ImageNet normalisation (torchvision; LUCIR, MRDC, RM, IL2M use it)
STD = (0.229, 0.224, 0.225)
TRAIN_IMAGES, VAL_IMAGES = 1_281_167, 50_000  # ILSVRC-2012 train and val, 1000 classes
WNID = re.compile(r"n\d{8}")
LAYOUT = (
    "<root>/train/<wnid>/*.JPEG and <root>/val/<wnid>/*.JPEG: one folder per class (WordNet id such as "
    "n01440764) in both splits, the validation images sorted into their class folders"
)
FLAT_VAL = (
    "ILSVRC-2012's validation images come as one flat folder (val/ILSVRC2012_val_00000001.JPEG, ...), "
    "with their labels in a separate file; retain needs them sorted into val/<wnid>/. Sort them once with "
    "the labels of the ILSVRC-2012 devkit (data/ILSVRC2012_validation_ground_truth.txt with meta.mat's "
    "ILSVRC2012_ID -> WNID table) or of Kaggle's LOC_val_solution.csv (the first wnid of each line), e.g. "
    "with the widely used valprep.sh script, so that val/n01440764/ILSVRC2012_val_00000293.JPEG and so on "
    "exist; then set data.dir to the folder holding train/ and val/."
)


def load_imagenet(request: LoadRequest, *, classes: str | None = None) -> Dataset:
    """ImageNet from `data.dir` (or `<data.dir>/imagenet`, or the cache folder), RGB uint8.

    `classes` (data.options.classes) names a shipped class list (`imagenet100-lucir-seed1993`,
    `imagenet1k`, `imagenet1k-rm-rand1`) or a file, one wnid per line: the dataset holds those
    classes, with label i = the i-th line. Without it, every class folder of train/, sorted.
    The in-memory path decodes every image resized to 224×224 (3×224×224 uint8).
    """
    root = find_imagenet(request)
    listing = list_imagenet(root, read_class_list(classes) if classes is not None else None)
    if request.side is not None:  # data.image_size: held as data.storage says (memory views or the encoded cache)
        train, test, note = load_listing(request, listing)
        return Dataset(request.name, train, test, listing.class_names, MEAN, STD, notes=[note])
    selection = hashlib.sha256("\n".join(listing.class_names).encode()).hexdigest()[:16]  # one cache per class list
    train, test = load_decoded(request.name, listing, request.image_size or IMAGE_SIZE, variant=selection)
    note = (f"data.image_size unset: every image decoded in memory, resized to {IMAGE_SIZE}x{IMAGE_SIZE} (set "
            "data.image_size for the crops of docs/data.md and the encoded cache)")
    return Dataset(request.name, train, test, listing.class_names, MEAN, STD, notes=[note])


def imagenet_classes(*, classes: str | None = None) -> list[str]:
    """The wnids `data.options.classes` selects, without the dataset's files (all 1000 when unset)."""
    return read_class_list(classes if classes is not None else ALL_CLASSES)


def shipped_class_lists() -> list[str]:
    """Names of the class lists shipped with retain (files `retain/data/classes/<name>.txt`)."""
    return sorted(p.stem for p in CLASS_LISTS.glob("*.txt"))


def read_class_list(value: str) -> list[str]:
    """The wnids of a shipped list named `value`, or of the file at path `value` (one per line)."""
    shipped = CLASS_LISTS / f"{value}.txt"
    path = shipped if shipped.is_file() else Path(str(value)).expanduser()
    if not path.is_file():
        raise ConfigError(
            f"data.options.classes = {value!r} is neither a class list shipped with retain "
            f"({', '.join(shipped_class_lists())}) nor an existing file; give one of those names or the path "
            "of a text file with one ImageNet wnid (e.g. n01440764) per line."
        )
    wnids = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    bad = [(n, w) for n, w in enumerate(wnids, start=1) if not WNID.fullmatch(w)]
    seen: set[str] = set()
    repeated = [w for w in wnids if w in seen or seen.add(w)]
    if not wnids or bad or repeated:
        what = (f"line {bad[0][0]} is {bad[0][1]!r}, not a wnid" if bad else
                f"{repeated[0]!r} is listed twice" if repeated else "it lists no wnid")
        raise ConfigError(
            f"data.options.classes = {value!r} ({path}): {what}. A class list holds one ImageNet wnid "
            "(the letter n and 8 digits, e.g. n01440764) per line, each once; label i is the i-th line."
        )
    return wnids


def find_imagenet(request: LoadRequest) -> Path:
    """The folder holding train/ and val/: data.dir or data.dir/imagenet, else the cache folder."""
    searched = candidate_dirs(request)
    for folder in searched:
        if (folder / "train").is_dir() and (folder / "val").is_dir():
            return folder
    raise DatasetNotFound(
        f"Dataset 'imagenet' was not found: looked in {', '.join(str(p) for p in searched)} for {LAYOUT}. "
        "retain cannot download ImageNet (it needs an image-net.org account): get ILSVRC-2012 "
        "(ILSVRC2012_img_train.tar, ILSVRC2012_img_val.tar) there, extract the train archive's per-class "
        "tars into train/<wnid>/, sort the validation images into val/<wnid>/, and set data.dir to that folder."
    )


def list_imagenet(root: Path, classes: list[str] | None = None) -> FolderListing:
    """The labelled files of an ImageNet folder: `classes` (wnids, label = position) or every train
    class folder sorted; a flat val/ folder or a selected class without its folders is refused."""
    train_dir, val_dir = root / "train", root / "val"
    if any(is_image_file(p) for p in val_dir.iterdir()):
        raise DatasetError(f"Image folder {val_dir} holds images directly, not in class folders. {FLAT_VAL}")
    names = classes if classes is not None else sorted(p.name for p in train_dir.iterdir() if p.is_dir())
    if not names:
        raise DatasetError(f"ImageNet folder {train_dir} has no class folders; expected {LAYOUT}.")
    train = _scan(train_dir, names, "train")
    test = _scan(val_dir, names, "val")
    return FolderListing(root=root, class_names=list(names), train=train, test=test)


def _scan(split_dir: Path, names: list[str], split: str) -> list[tuple[Path, int]]:
    missing = [w for w in names if not (split_dir / w).is_dir()]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        hint = f" {FLAT_VAL}" if split == "val" else ""
        raise DatasetError(
            f"ImageNet folder {split_dir} lacks the class folders {shown} ({len(missing)} of the {len(names)} "
            f"classes selected); expected {LAYOUT}.{hint}"
        )
    items: list[tuple[Path, int]] = []
    for label, wnid in enumerate(names):
        files = sorted(p for p in (split_dir / wnid).iterdir() if is_image_file(p))
        if not files:
            raise DatasetError(f"Class folder {split_dir / wnid} holds no images (.JPEG, .jpg, .png or .bmp).")
        items += [(path, label) for path in files]
    return items
