"""Safe extraction of downloaded archives: no member may land outside the target folder."""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from pathlib import Path

from retain.errors import DatasetError


def extract_zip(archive: Path, dest: Path, inner: str = "") -> Path:
    """Extract `archive` so that its folder `inner` ("" = all of it) becomes `dest`.

    Absolute or `..` member paths are refused. Extraction goes to a temporary sibling folder first and is renamed into place, so an
    interrupted extraction never looks like a complete dataset.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part"))
    try:
        with zipfile.ZipFile(archive) as bundle:
            root = staging.resolve()
            for member in bundle.infolist():
                target = (staging / member.filename).resolve()
                if os.path.isabs(member.filename) or not target.is_relative_to(root):
                    raise DatasetError(
                        f"Archive {archive} contains the member {member.filename!r}, which would be "
                        f"written outside {dest}; refusing to extract it. The archive is not the "
                        "official one."
                    )
            bundle.extractall(staging)
        extracted = staging / inner
        if not extracted.is_dir():
            raise DatasetError(f"Archive {archive} has no folder {inner!r}; it is not the official archive.")
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(extracted, dest)
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise DatasetError(f"Cannot extract archive {archive}: {error}. Delete it and fetch it again.") from error
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return dest
