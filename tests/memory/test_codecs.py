import io

import numpy as np
import pytest
import torch
from PIL import Image

from retain.errors import ConfigError
from retain.memory.codecs import JpegCodec, RawCodec, split_header
from retain.memory.store import MemoryStore

BACKENDS = ["simplejpeg", "pillow"]
SHAPES = [(3, 32, 32), (1, 28, 28), (3, 17, 9)]


def test_raw_round_trip_is_exact_and_costs_chw():
    images = torch.randint(0, 256, (5, 3, 8, 8), dtype=torch.uint8)
    codec = RawCodec()
    rows = codec.encode(images)
    assert isinstance(rows, torch.Tensor)  # pixel arrays, no bytes objects
    assert torch.equal(codec.decode(rows), images)
    assert codec.row_bytes(rows[0]) == 192 and codec.header == b""


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shape", SHAPES)
def test_jpeg_round_trip_is_close_at_q95(backend, shape, smooth_images):
    images = smooth_images(4, *shape)
    codec = JpegCodec(95, backend=backend)
    decoded = codec.decode(codec.encode(images))
    assert decoded.dtype == torch.uint8 and decoded.shape == images.shape
    assert (decoded.float() - images.float()).abs().mean() < 4.0


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shape", SHAPES)
def test_headers_are_identical_for_one_size_and_quality(backend, shape, smooth_images):
    codec = JpegCodec(60, backend=backend)
    files = codec.encode(torch.cat([smooth_images(3, *shape), torch.randint(0, 256, (3, *shape), dtype=torch.uint8)]))
    headers = {split_header(f)[0] for f in files}
    assert len(headers) == 1


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shape", SHAPES)
def test_shared_header_reassembles_exact_files_and_pixels(backend, shape, smooth_images):
    images = smooth_images(6, *shape)
    full = JpegCodec(70, backend=backend)
    shared = JpegCodec(70, backend=backend, shared_header=True)
    files, rows = full.encode(images), shared.encode(images)
    assert shared.header == split_header(files[0])[0] and len(shared.header) > 100
    assert all(not r.startswith(b"\xff\xd8") for r in rows)
    assert [shared.full_file(r) for r in rows] == files
    assert torch.equal(shared.decode(rows), full.decode(files))
    assert sum(map(len, rows)) + len(shared.header) == sum(map(len, files)) - (len(files) - 1) * len(shared.header)


def test_shared_header_falls_back_to_full_file_for_a_different_header(smooth_images):
    codec = JpegCodec(70, shared_header=True)
    small = codec.encode(smooth_images(2, 3, 8, 8))
    other = codec.encode(smooth_images(1, 3, 16, 16))  # another size: another SOF header
    assert not small[0].startswith(b"\xff\xd8") and other[0].startswith(b"\xff\xd8")
    assert codec.decode(other).shape == (1, 3, 16, 16)


@pytest.mark.parametrize("shape", SHAPES)
def test_backends_decode_each_others_files_alike(shape, smooth_images):
    images = smooth_images(3, *shape)
    simple, pillow = JpegCodec(50, backend="simplejpeg"), JpegCodec(50, backend="pillow")
    for files in (simple.encode(images), pillow.encode(images)):
        # Two libraries, each with its own libjpeg build and SIMD paths: the same accurate integer
        # IDCT and fancy upsampling agree to within one grey level, not bit for bit everywhere.
        torch.testing.assert_close(simple.decode(files), pillow.decode(files), atol=1, rtol=0)


def test_colour_uses_420_chroma_subsampling(smooth_images):
    for backend in BACKENDS:
        data = JpegCodec(80, backend=backend).encode(smooth_images(1, 3, 16, 16))[0]
        sampling = Image.open(io.BytesIO(data)).layer  # (id, h, v, table) per component
        assert [(h, v) for _, h, v, _ in sampling] == [(2, 2), (1, 1), (1, 1)]


def test_grayscale_files_have_one_component(smooth_images):
    data = JpegCodec(80).encode(smooth_images(1, 1, 28, 28))[0]
    assert Image.open(io.BytesIO(data)).mode == "L"


def test_jpeg_q50_is_smaller_than_raw_on_smooth_cifar_images(smooth_images):
    images = smooth_images(20, 3, 32, 32)
    codec = JpegCodec(50)
    assert np.mean([codec.row_bytes(r) for r in codec.encode(images)]) < 3072 / 1.5


@pytest.mark.parametrize("shared", [False, True])
def test_store_charges_rows_plus_header_once(shared, smooth_images):
    codec = JpegCodec(50, shared_header=shared)
    store = MemoryStore(codec, (3, 32, 32))
    store.add(smooth_images(7, 3, 32, 32), labels=1, task=0)
    rows = store.encoded_rows()
    assert store.nbytes() == sum(len(r) for r in rows) + len(codec.header)
    assert store.row_nbytes().tolist() == [len(r) for r in rows]
    assert (len(codec.header) > 0) == shared


@pytest.mark.parametrize("quality", [0, 101, 50.5, "high", True])
def test_bad_quality_names_the_field(quality):
    with pytest.raises(ConfigError, match="memory.quality"):
        JpegCodec(quality)


def test_unknown_backend_names_the_field():
    with pytest.raises(ConfigError, match="memory.jpeg_backend"):
        JpegCodec(50, backend="turbo")


def test_jpeg_rejects_four_channels():
    with pytest.raises(ConfigError, match="channels"):
        JpegCodec(50).encode(torch.zeros((1, 4, 8, 8), dtype=torch.uint8))
