"""Finding a dataset's files: the data dir, system dirs, the cache, else a verified download."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from retain.data.base import LoadRequest
from retain.data.cache import dataset_cache_dir
from retain.data.download import base_url, download_file, file_md5
from retain.errors import DatasetNotFound

T = TypeVar("T")

# Folders where operating-system packages install datasets (Debian: dataset-fashion-mnist).
SYSTEM_DIRS: dict[str, list[Path]] = {
    "fashion-mnist": [Path("/usr/share/datasets/fashion-mnist")],
}


@dataclass(frozen=True)
class RemoteSource:
    """Where a dataset comes from and what a folder holding it must contain."""

    official_url: str
    checksums: dict[str, str]  # filename -> md5 of the files to download
    layout: str  # the expected files/folders, for error messages
    hints: list[str] = field(default_factory=list)  # other ways to get the data


def candidate_dirs(request: LoadRequest) -> list[Path]:
    """Folders searched in order: data_dir and data_dir/<name> when a data_dir is given (and
    nothing else: the data the user named, never another copy); else system dirs, the cache."""
    dirs: list[Path] = []
    if request.data_dir is not None:
        return [request.data_dir, request.data_dir / request.name]
    dirs += SYSTEM_DIRS.get(request.name, [])
    dirs.append(dataset_cache_dir(request.name))
    unique: list[Path] = []
    for path in dirs:
        if path not in unique:
            unique.append(path)
    return unique


def locate(request: LoadRequest, source: RemoteSource, probe: Callable[[Path], T | None]) -> T:
    """The first folder `probe` accepts; else download into the cache and probe that.

    `probe(folder)` returns what the loader needs (a path, an extracted root, ...) or None
    when the folder does not hold the dataset.
    """
    searched = candidate_dirs(request)
    for folder in searched:
        if folder.is_dir():
            found = probe(folder)
            if found is not None:
                return found
    if request.data_dir is not None:
        raise _not_in_data_dir(request, source, searched)
    if not request.download:
        raise _not_found(request, source, searched, "downloading is disabled (download=False)")
    target = dataset_cache_dir(request.name)
    url = base_url(request.name, source.official_url, request.mirror)
    try:
        for filename, md5 in source.checksums.items():
            dest = target / filename
            if not (dest.is_file() and file_md5(dest) == md5):
                download_file(url + filename, dest, md5)
    except OSError as error:
        raise _not_found(request, source, searched, f"downloading from {url} failed ({error})") from error
    found = probe(target)
    if found is None:
        raise _not_found(request, source, searched, f"the files downloaded from {url} into {target} are incomplete")
    return found


def _not_found(request: LoadRequest, source: RemoteSource, searched: list[Path], reason: str) -> DatasetNotFound:
    looked = ", ".join(str(path) for path in searched)
    ways = ["pass data_dir (config field data.dir) pointing to a folder with these files"]
    ways += source.hints
    ways.append(f"download {', '.join(source.checksums)} from {source.official_url} into {searched[-1]}")
    return DatasetNotFound(
        f"Dataset {request.name!r} was not found. Looked in: {looked}. Expected layout: "
        f"{source.layout}. Not downloaded because {reason}. To get the data: {'; or '.join(ways)}."
    )


def _not_in_data_dir(request: LoadRequest, source: RemoteSource, searched: list[Path]) -> DatasetNotFound:
    held = sorted(p.name for folder in searched if folder.is_dir() for p in folder.iterdir())
    shown = ", ".join(held[:8]) + (f" and {len(held) - 8} more" if len(held) > 8 else "") if held else "nothing"
    return DatasetNotFound(
        f"Dataset {request.name!r} was not found in data.dir = {str(request.data_dir)!r}: looked in "
        f"{' and '.join(str(p) for p in searched)}, which hold {shown}. Expected layout: {source.layout} (as "
        f"downloaded: {', '.join(source.checksums)}). A given "
        "data.dir is the only place looked at (no system folder, cache or download stands in for it); put the "
        "files there, or leave data.dir unset to use the default locations."
    )
