"""The IDX reader: round trips, and malformed files raise DatasetError naming the file."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from retain.data.idx import read_idx
from retain.errors import DatasetError


@pytest.mark.parametrize("compressed", [True, False])
def test_round_trip_uint8_images(tmp_path: Path, compressed: bool, idx_encoder) -> None:
    images = np.random.default_rng(1).integers(0, 256, (3, 4, 5), dtype=np.uint8)
    raw = idx_encoder(images)
    path = tmp_path / ("images.idx.gz" if compressed else "images.idx")
    path.write_bytes(gzip.compress(raw) if compressed else raw)
    loaded = read_idx(path)
    assert loaded.dtype == np.uint8 and loaded.shape == (3, 4, 5)
    np.testing.assert_array_equal(loaded, images)


def test_big_endian_int32_is_decoded_to_native(tmp_path: Path, idx_encoder) -> None:
    values = np.array([1, -2, 70000], dtype=np.int32)
    path = tmp_path / "values.idx"
    path.write_bytes(idx_encoder(values))
    loaded = read_idx(path)
    np.testing.assert_array_equal(loaded, values)
    assert loaded.dtype.isnative


def test_bad_magic_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "labels.gz"
    path.write_bytes(gzip.compress(b"\x01\x02\x08\x01" + b"\x00" * 10))
    with pytest.raises(DatasetError, match="labels.gz") as info:
        read_idx(path)
    assert "magic" in str(info.value)


def test_truncated_data_names_the_file(tmp_path: Path, idx_encoder) -> None:
    path = tmp_path / "short.gz"
    path.write_bytes(gzip.compress(idx_encoder(np.zeros((4, 2, 2), np.uint8))[:-3]))
    with pytest.raises(DatasetError, match="short.gz.*truncated"):
        read_idx(path)


def test_not_gzip_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.gz"
    path.write_bytes(b"this is not gzip data")
    with pytest.raises(DatasetError, match="broken.gz"):
        read_idx(path)
