"""The packed JPEG cache of a folder dataset: built once, resumable, checked by checksum.

Layout of `<cache>/<name>/encoded-<key>/` (key: the folder and the settings):

* `rows.bin`   every image re-encoded as JPEG (short side capped at `max_side`), back to back;
* `index.npy`  int64 (N, 5): offset, length, height, width, label — train rows first, then test;
* `meta.json`  the listing's fingerprint (paths, sizes, mtimes), the settings, the row counts,
  the SHA-256 of the index and of every block of `BLOCK_ROWS` rows of `rows.bin`. Written last:
  it marks the cache complete.

A build appends to `rows.bin`, `index.part` (40 bytes a row) and `blocks.part` (32 bytes a
block) and records in `journal.json` how many rows are safely on disk after each block, so an
interrupted build continues where it stopped. A complete cache whose listing or settings no
longer match, or whose bytes do not match their checksums, is refused with the file named.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import logging
import math
import os
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from retain.data.cache import dataset_cache_dir
from retain.data.decode import FolderListing, fingerprint
from retain.errors import DatasetError
from retain.jpeg import encode_pillow

FORMAT = 1
BLOCK_ROWS = 1024
QUALITY = 90            # the re-encoding quality of the cache (FFCV and DALI pipelines use 90-95 too)
INDEX_COLUMNS = 5       # offset, length, height, width, label
VERIFY_AT_OPEN = 512 << 20  # caches up to this many bytes are fully checked when opened; larger ones block by block on first use
LOG = logging.getLogger("retain.data")


@dataclass
class PackedCache:
    """An open, complete cache: the mapped bytes, the index and what its blocks must hash to."""

    folder: Path
    data: np.ndarray            # uint8 memory map of rows.bin
    index: np.ndarray           # int64 (N, 5)
    train_rows: int
    class_names: list[str]
    blocks: list[str]
    verified: np.ndarray        # bool per block: checked against its SHA-256

    def row(self, i: int) -> bytes:
        """The JPEG file of row `i` (its block checked first, once)."""
        block = i // BLOCK_ROWS
        if not self.verified[block]:
            self.verify_block(block)
        offset, length = int(self.index[i, 0]), int(self.index[i, 1])
        return self.data[offset : offset + length].tobytes()

    def verify_block(self, block: int) -> None:
        """Refuse the cache if block `block` of rows.bin does not hash to what meta.json says."""
        first, last = block * BLOCK_ROWS, min((block + 1) * BLOCK_ROWS, len(self.index)) - 1
        start, stop = int(self.index[first, 0]), int(self.index[last, 0] + self.index[last, 1])
        if hashlib.sha256(self.data[start:stop]).hexdigest() != self.blocks[block]:
            raise DatasetError(
                f"The encoded dataset cache file {self.folder / 'rows.bin'} is corrupt: bytes {start}..{stop} "
                f"(rows {first}..{last}) do not match their SHA-256 in {self.folder / 'meta.json'}. Delete the folder "
                f"{self.folder} and run again to rebuild it from the images."
            )
        self.verified[block] = True


def cache_folder(name: str, listing: FolderListing, max_side: int) -> Path:
    """Where the cache of `listing` re-encoded with short side <= `max_side` lives."""
    key = hashlib.sha256(f"{listing.root.resolve()}|{max_side}|{QUALITY}|{FORMAT}".encode()).hexdigest()[:16]
    return dataset_cache_dir(name) / f"encoded-{key}"


def open_or_build(name: str, listing: FolderListing, max_side: int, workers: int) -> PackedCache:
    """The cache of `listing`: opened when complete, else built (or its build continued) first."""
    folder = cache_folder(name, listing, max_side)
    folder.mkdir(parents=True, exist_ok=True)
    identity = fingerprint(listing, None)
    settings = {"format": FORMAT, "max_side": max_side, "quality": QUALITY, "block_rows": BLOCK_ROWS}
    with _locked(folder):  # distributed ranks (or two runs) share one build
        if not (folder / "meta.json").is_file():
            _build(folder, listing, identity, settings, workers)
        return _open(folder, identity, settings)


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    with open(folder / ".lock", "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# ---------------------------------------------------------------------- opening
def _open(folder: Path, identity: dict[str, object], settings: dict[str, object]) -> PackedCache:
    meta_file = folder / "meta.json"
    try:
        meta = json.loads(meta_file.read_text())
    except (OSError, ValueError) as error:
        raise _corrupt(meta_file, folder, f"it cannot be read as JSON ({error})") from None
    if meta.get("settings") != settings:
        raise _corrupt(meta_file, folder, f"it was written with settings {meta.get('settings')}, expected {settings}")
    if meta.get("fingerprint") != identity:
        was, now = meta.get("fingerprint") or {}, identity
        raise DatasetError(
            f"The encoded dataset cache {folder} is stale: it was built from {was.get('files')} files "
            f"({was.get('bytes')} bytes) under {meta.get('root')}, but the folder now lists {now['files']} files "
            f"({now['bytes']} bytes) or their sizes or modification times changed ({meta_file} records them). "
            f"Delete the folder {folder} to rebuild the cache from the current images (or restore the images)."
        )
    index_file, rows_file = folder / "index.npy", folder / "rows.bin"
    try:
        index_bytes = index_file.read_bytes()
        index = np.load(io.BytesIO(index_bytes), allow_pickle=False)
        size = rows_file.stat().st_size
    except (OSError, ValueError) as error:
        raise _corrupt(index_file, folder, f"it cannot be read ({error})") from None
    if hashlib.sha256(index_bytes).hexdigest() != meta.get("index_sha256") or index.shape != (meta["rows"], INDEX_COLUMNS):
        raise _corrupt(index_file, folder, f"its SHA-256 or shape does not match {meta_file}")
    if size != meta.get("bytes"):
        raise _corrupt(rows_file, folder, f"it holds {size} bytes, {meta_file} says {meta.get('bytes')}")
    data = np.memmap(rows_file, dtype=np.uint8, mode="r") if size else np.zeros(0, np.uint8)
    blocks = list(meta["blocks"])
    cache = PackedCache(folder, data, index, int(meta["train_rows"]), list(meta["class_names"]), blocks,
                        np.zeros(len(blocks), dtype=bool))
    if size <= VERIFY_AT_OPEN:
        for block in range(len(blocks)):
            cache.verify_block(block)
    return cache


def _corrupt(path: Path, folder: Path, why: str) -> DatasetError:
    return DatasetError(
        f"The encoded dataset cache file {path} is corrupt: {why}. Delete the folder {folder} and run again to "
        "rebuild it from the images."
    )


# ---------------------------------------------------------------------- building
def _build(folder: Path, listing: FolderListing, identity: dict[str, object], settings: dict[str, object], workers: int) -> None:
    items = [(p, y) for p, y in listing.train] + [(p, y) for p, y in listing.test]
    done, offset = _resume_point(folder, identity, settings)
    if done:
        LOG.info("Encoded cache %s: continuing an interrupted build at image %d of %d", folder, done, len(items))
    with open(folder / "rows.bin", "r+b" if done else "wb") as rows, open(folder / "index.part", "r+b" if done else "wb") as index, \
            open(folder / "blocks.part", "r+b" if done else "wb") as blocks, ThreadPoolExecutor(workers) as pool:
        for handle, length in ((rows, offset), (index, done * INDEX_COLUMNS * 8), (blocks, -(-done // BLOCK_ROWS) * 32)):
            handle.truncate(length)  # drop whatever an interrupted build wrote after its last journal entry
            handle.seek(length)
        progress = _Progress(len(items), done, folder)
        for start in range(done, len(items), BLOCK_ROWS):
            chunk = items[start : start + BLOCK_ROWS]
            encoded = list(pool.map(lambda item: _encode(item[0], int(settings["max_side"])), chunk))
            digest = hashlib.sha256()
            table = np.empty((len(chunk), INDEX_COLUMNS), dtype=np.int64)
            for i, ((data, height, width), (_, label)) in enumerate(zip(encoded, chunk)):
                table[i] = (offset, len(data), height, width, label)
                offset += len(data)
                digest.update(data)
                rows.write(data)
            index.write(table.tobytes())
            blocks.write(digest.digest())
            for handle in (rows, index, blocks):
                handle.flush()
                os.fsync(handle.fileno())
            _write_json(folder / "journal.json", {"fingerprint": identity, "settings": settings,
                                                  "rows": start + len(chunk), "bytes": offset})
            progress.advance(len(chunk))
        progress.close()
    _finish(folder, listing, identity, settings, len(items), len(listing.train), offset)


def _resume_point(folder: Path, identity: dict[str, object], settings: dict[str, object]) -> tuple[int, int]:
    """(rows, bytes) an interrupted build of the same listing and settings left complete; (0, 0) otherwise."""
    try:
        journal = json.loads((folder / "journal.json").read_text())
    except (OSError, ValueError):
        return 0, 0
    if journal.get("fingerprint") != identity or journal.get("settings") != settings:
        LOG.info("Encoded cache %s: an interrupted build of other files or settings is discarded", folder)
        return 0, 0
    return int(journal["rows"]), int(journal["bytes"])


def _finish(folder: Path, listing: FolderListing, identity: dict[str, object], settings: dict[str, object],
            rows: int, train_rows: int, size: int) -> None:
    index = np.frombuffer((folder / "index.part").read_bytes(), dtype=np.int64).reshape(rows, INDEX_COLUMNS)
    buffer = io.BytesIO()
    np.save(buffer, index, allow_pickle=False)
    (folder / "index.npy").write_bytes(buffer.getvalue())
    raw_blocks = (folder / "blocks.part").read_bytes()
    blocks = [raw_blocks[i : i + 32].hex() for i in range(0, len(raw_blocks), 32)]
    meta = {"settings": settings, "fingerprint": identity, "root": str(listing.root.resolve()),
            "class_names": listing.class_names, "rows": rows, "train_rows": train_rows, "bytes": size,
            "index_sha256": hashlib.sha256(buffer.getvalue()).hexdigest(), "blocks": blocks}
    _write_json(folder / "meta.json", meta)  # the commit marker
    for leftover in ("journal.json", "index.part", "blocks.part"):
        (folder / leftover).unlink(missing_ok=True)
    LOG.info("Encoded cache %s: %d images, %.1f MB (%.0f bytes an image)", folder, rows, size / 1e6, size / max(rows, 1))


def _encode(path: Path, max_side: int) -> tuple[bytes, int, int]:
    """JPEG bytes of the image at `path` (RGB), its short side reduced to at most `max_side`; (bytes, H, W)."""
    try:
        with Image.open(path) as image:
            width, height = image.size
            k = min(1.0, max_side / min(width, height))
            size = (max(1, round(width * k)), max(1, round(height * k)))
            image.draft("RGB", size)  # DCT-domain reduction first, for large JPEG sources
            rgb = image.convert("RGB")
            if rgb.size != size:
                rgb = rgb.resize(size, Image.Resampling.BILINEAR, reducing_gap=None)
    except (UnidentifiedImageError, OSError) as error:
        raise DatasetError(f"Cannot decode image {path}: {error}. Remove or replace the file.") from error
    return encode_pillow(rgb, QUALITY), size[1], size[0]


def _write_json(path: Path, value: dict[str, object]) -> None:
    part = path.with_name(path.name + ".part")
    part.write_text(json.dumps(value))
    os.replace(part, path)


class _Progress:
    """A rich progress bar on a terminal, else a log line every tenth of the build."""

    def __init__(self, total: int, done: int, folder: Path) -> None:
        self.total, self.done, self.bar = total, done, None
        self.next_log = done + max(total // 10, 1)
        if sys.stderr.isatty():
            from rich.progress import Progress

            self.bar = Progress(transient=True)
            self.bar.start()
            self.task = self.bar.add_task(f"encoding {total} images into {folder.name}", total=total, completed=done)
        else:
            LOG.info("Encoded cache %s: encoding %d images (%d done)", folder, total, done)

    def advance(self, rows: int) -> None:
        self.done += rows
        if self.bar is not None:
            self.bar.update(self.task, completed=self.done)
        elif self.done >= self.next_log:
            LOG.info("  encoded %d / %d images (%d%%)", self.done, self.total, math.floor(100 * self.done / self.total))
            self.next_log += max(self.total // 10, 1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
