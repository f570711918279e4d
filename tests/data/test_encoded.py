"""The encoded dataset: a packed JPEG cache of a folder, built once, resumed, refused when stale
or corrupt, and decoded to what Pillow gives."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from retain.data import load_dataset
from retain.data import encoded_cache
from retain.data.encoded import center_box
from retain.data.imagefolder import list_image_folders
from retain.errors import ConfigError, DatasetError

sys.path.insert(0, str(Path(__file__).parent))
from jpeg_folder import write_jpeg_folder  # noqa: E402


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return write_jpeg_folder(tmp_path_factory.mktemp("jpegs") / "folder", train=160, test=40)


def _load(folder: Path, **kw):
    return load_dataset("imagefolder", data_dir=folder, side=kw.pop("side", 16), storage=kw.pop("storage", "encoded"),
                        max_side=kw.pop("max_side", 48), **kw)


def _cache_folder(data_cache: Path) -> Path:
    (found,) = (data_cache / "imagefolder").glob("encoded-*")
    return found


def test_cache_holds_every_image_once_capped_at_max_side(folder, data_cache):
    dataset = _load(folder)
    assert dataset.train.is_encoded and len(dataset.train) == 160 and len(dataset.test) == 40
    assert dataset.image_shape == (3, 16, 16) and dataset.num_classes == 4
    cache = dataset.train.images.cache
    listing = list_image_folders(folder)
    sources = [Image.open(p).size for p, _ in listing.train + listing.test]
    heights, widths = cache.index[:, 2], cache.index[:, 3]
    assert np.minimum(heights, widths).max() <= 48
    for (w, h), hh, ww in zip(sources, heights, widths):
        k = min(1.0, 48 / min(w, h))
        assert (hh, ww) == (max(1, round(h * k)), max(1, round(w * k)))  # aspect ratio kept
    assert cache.index[:, 4].tolist() == [y for _, y in listing.train + listing.test]
    # Opening again reuses it: nothing is rebuilt (the rows file keeps its inode and time).
    rows = _cache_folder(data_cache) / "rows.bin"
    before = rows.stat()
    again = _load(folder)
    assert rows.stat().st_ino == before.st_ino and rows.stat().st_mtime_ns == before.st_mtime_ns
    assert torch.equal(again.test.images[:8], dataset.test.images[:8])


def test_decode_matches_pillow_within_codec_tolerance(folder):
    dataset = _load(folder, side=16, eval_resize=20)
    cache = dataset.test.images.cache
    rows = range(cache.train_rows, cache.train_rows + 12)
    views = dataset.test.images[torch.arange(12)].numpy().astype(int)
    for k, row in enumerate(rows):
        pil = Image.open(io.BytesIO(cache.row(row))).convert("RGB")
        w, h = pil.size
        # torchvision's Resize(20) + CenterCrop(16), in Pillow.
        short = min(w, h)
        size = (20, int(20 * h / w)) if w <= h else (int(20 * w / h), 20)
        resized = pil.resize(size, Image.Resampling.BILINEAR)
        left, top = round((size[0] - 16) / 2), round((size[1] - 16) / 2)
        expected = np.asarray(resized.crop((left, top, left + 16, top + 16))).transpose(2, 0, 1).astype(int)
        assert short >= 16
        assert np.abs(views[k] - expected).mean() < 4.0, k
    # The full stored image decodes to exactly what Pillow decodes.
    full = dataset.test.images.crops(torch.tensor([0]), torch.tensor([[0, 0, *cache.index[cache.train_rows, 2:4]]]))
    assert full.shape == (1, 3, 16, 16)


def test_draft_downscaling_stays_close_to_a_full_decode(folder):
    dataset = _load(folder, side=8, max_side=96)
    images = dataset.train.images
    plain = images.to("cpu")
    plain.draft = False
    index = torch.arange(40)
    with_draft, without = images.views(index).float(), plain.views(index).float()
    assert (with_draft - without).abs().mean() < 6.0
    assert not torch.equal(with_draft, without)  # the DCT-domain path really ran


def test_center_box_is_resize_then_center_crop():
    top, left, h, w = center_box(300, 400, 224, 256)  # resized to 256×341, crop at (16, 58)
    assert (h, w) == pytest.approx((224 * 300 / 256, 224 * 400 / 341))
    assert (top, left) == pytest.approx((16 * 300 / 256, 58 * 400 / 341))


def test_a_changed_folder_makes_the_cache_stale_and_it_is_refused(folder, tmp_path, data_cache):
    copy = write_jpeg_folder(tmp_path / "copy", train=24, test=8)
    _load(copy)
    extra = copy / "train" / "c0" / "extra.jpg"
    Image.new("RGB", (30, 40), (1, 2, 3)).save(extra)
    with pytest.raises(DatasetError, match=r"cache .*encoded-\w+ is stale: it was built from 32 files.*now lists 33 files.*Delete the folder"):
        _load(copy)


def test_a_corrupt_cache_is_refused_naming_the_file(tmp_path, data_cache):
    copy = write_jpeg_folder(tmp_path / "copy", train=24, test=8)
    _load(copy)
    rows = _cache_folder(data_cache) / "rows.bin"
    data = bytearray(rows.read_bytes())
    data[len(data) // 2] ^= 0xFF
    rows.write_bytes(bytes(data))
    with pytest.raises(DatasetError, match=rf"cache file {rows} is corrupt: bytes 0\.\.\d+ \(rows 0\.\.31\) do not match their SHA-256"):
        _load(copy)
    rows.write_bytes(bytes(data[:-10]))
    with pytest.raises(DatasetError, match=rf"{rows} is corrupt: it holds \d+ bytes"):
        _load(copy)


def test_a_large_cache_checks_each_block_when_first_decoded(tmp_path, data_cache, monkeypatch):
    copy = write_jpeg_folder(tmp_path / "copy", train=24, test=8)
    monkeypatch.setattr(encoded_cache, "BLOCK_ROWS", 8)
    monkeypatch.setattr(encoded_cache, "VERIFY_AT_OPEN", 0)
    _load(copy)
    folder = _cache_folder(data_cache)
    index = np.load(folder / "index.npy")
    rows = folder / "rows.bin"
    data = bytearray(rows.read_bytes())
    data[int(index[28, 0]) + 5] ^= 0xFF  # row 28: a test image, in block 3 (rows 24..31)
    rows.write_bytes(bytes(data))
    dataset = _load(copy)  # opens (the training images' statistics decode blocks 0..2): block 3 is not read yet
    assert dataset.test.images.cache.verified.tolist() == [True, True, True, False]
    dataset.test.images[torch.arange(0)]
    with pytest.raises(DatasetError, match=r"corrupt: bytes \d+\.\.\d+ \(rows 24\.\.31\)"):
        dataset.test.images[torch.tensor([1])]


def test_an_interrupted_build_continues_where_it_stopped(tmp_path, data_cache, monkeypatch):
    copy = write_jpeg_folder(tmp_path / "copy", train=40, test=8)
    monkeypatch.setattr(encoded_cache, "BLOCK_ROWS", 8)
    reference = _load(copy).train.images.cache
    ref_bytes, ref_index = bytes(reference.data), reference.index.copy()
    import shutil

    shutil.rmtree(_cache_folder(data_cache))
    calls = {"n": 0}
    real = encoded_cache._encode

    def dying(path, max_side):
        calls["n"] += 1
        if calls["n"] == 21:  # inside the third block
            raise KeyboardInterrupt
        return real(path, max_side)

    monkeypatch.setattr(encoded_cache, "_encode", dying)
    with pytest.raises(KeyboardInterrupt):
        _load(copy)
    folder = _cache_folder(data_cache)
    assert json.loads((folder / "journal.json").read_text())["rows"] == 16 and not (folder / "meta.json").exists()
    with open(folder / "rows.bin", "ab") as handle:
        handle.write(b"half-written row")  # what a kill mid-write leaves behind
    calls["n"] = -10**9  # no more faults; count what the resumed build encodes
    monkeypatch.setattr(encoded_cache, "_encode", lambda p, m: (calls.__setitem__("n", calls["n"] + 1), real(p, m))[1])
    calls["n"] = 0
    resumed = _load(copy).train.images.cache
    assert calls["n"] == 48 - 16  # only the images after the journal's 16
    assert bytes(resumed.data) == ref_bytes and np.array_equal(resumed.index, ref_index)


def test_storage_choices_and_refusals(folder, tmp_path):
    auto = load_dataset("imagefolder", data_dir=folder, side=16, storage="auto")
    assert not auto.train.is_encoded and auto.image_shape == (3, 16, 16)
    assert "decoded in memory" in auto.notes[0] and "within 1/4 of the RAM" in auto.notes[0]
    encoded = _load(folder)
    assert "encoded JPEG cache (forced)" in encoded.notes[0]
    # memory and encoded give the same evaluation views, to within the re-encoding's loss
    diff = (auto.test.images[:20].float() - encoded.test.images[:20].float()).abs().mean()
    assert diff < 6.0
    with pytest.raises(ConfigError, match="data.storage = encoded needs data.image_size"):
        load_dataset("imagefolder", data_dir=folder, storage="encoded")
    with pytest.raises(ConfigError, match=r"data.max_side = 32 is below the evaluation resize 40"):
        _load(folder, max_side=32, eval_resize=40)
    with pytest.raises(ConfigError, match="dataset 'digits' is held in memory"):
        load_dataset("digits", storage="encoded")
    with pytest.raises(ConfigError, match="data.image_size = 16 was given for dataset 'digits'"):
        load_dataset("digits", side=16)
