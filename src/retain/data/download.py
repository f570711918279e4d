"""HTTP download into the cache: temporary file, md5 check, then an atomic rename."""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from retain.errors import DatasetError

MIRROR_ENV = "RETAIN_DATA_MIRROR"
_CHUNK = 1 << 20

log = logging.getLogger(__name__)


def file_md5(path: Path) -> str:
    """Hex md5 of a file, read in chunks."""
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def base_url(name: str, official: str, mirror: str | None = None) -> str:
    """The folder URL to download `name`'s files from, ending in '/'.

    A mirror (argument, else `$RETAIN_DATA_MIRROR`) serves every dataset under
    `<mirror>/<name>/<filename>`, so one mirror can hold MNIST and Fashion-MNIST side by side.
    """
    mirror = mirror or os.environ.get(MIRROR_ENV) or None
    if mirror is None:
        return official if official.endswith("/") else official + "/"
    return f"{mirror.rstrip('/')}/{name}/"


def download_file(url: str, dest: Path, md5: str, timeout: float = 60.0) -> Path:
    """Download `url` to `dest`, keeping it only if its md5 equals `md5`.

    Network failures propagate as OSError (urllib's URLError is one) so the caller can say
    where else it looked; a checksum mismatch raises DatasetError. Either way nothing partial
    is left at `dest` or beside it.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    log.info("downloading %s -> %s", url, dest)
    digest = hashlib.md5()
    handle = tempfile.NamedTemporaryFile(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part", delete=False)
    partial = Path(handle.name)
    try:
        with handle, urllib.request.urlopen(url, timeout=timeout) as response:
            for block in iter(lambda: response.read(_CHUNK), b""):
                digest.update(block)
                handle.write(block)
        actual = digest.hexdigest()
        if actual != md5:
            raise DatasetError(
                f"Checksum mismatch for {dest.name} downloaded from {url}: expected md5 {md5}, "
                f"got {actual}. The file was deleted; retry the download, or place a correct copy "
                f"at {dest}."
            )
        os.replace(partial, dest)
    except urllib.error.HTTPError as error:
        error.close()  # an HTTP error holds the open response; release its socket now
        raise
    finally:
        partial.unlink(missing_ok=True)
    return dest
