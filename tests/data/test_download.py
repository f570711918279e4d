"""Downloads against a local HTTP server: verified success, checksum mismatch, unreachable source."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from retain.data import cifar, load_dataset, mnist
from retain.data.download import base_url, download_file
from retain.errors import DatasetError


def _md5s(folder: Path) -> dict[str, str]:
    return {f.name: hashlib.md5(f.read_bytes()).hexdigest() for f in sorted(folder.iterdir())}


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if ".part" in p.name)


@pytest.mark.parametrize("via_env", [False, True])
def test_download_from_mirror_then_reuse_cache(
    http_mirror, write_idx_dataset, data_cache: Path, monkeypatch: pytest.MonkeyPatch, via_env: bool
) -> None:
    url, served = http_mirror
    write_idx_dataset(served / "mnist", n_train=9, n_test=4)
    monkeypatch.setitem(mnist.CHECKSUMS, "mnist", _md5s(served / "mnist"))
    if via_env:
        monkeypatch.setenv("RETAIN_DATA_MIRROR", url)
        data = load_dataset("mnist")
    else:
        data = load_dataset("mnist", mirror=url + "/")
    assert len(data.train) == 9 and len(data.test) == 4
    assert _md5s(data_cache / "mnist") == mnist.CHECKSUMS["mnist"]
    assert _leftovers(data_cache) == []
    again = load_dataset("mnist", download=False)  # now found in the cache
    assert again.train.images.equal(data.train.images)


def test_checksum_mismatch_names_file_and_both_md5s_and_keeps_nothing(
    http_mirror, write_idx_dataset, data_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, served = http_mirror
    write_idx_dataset(served / "mnist")
    expected = _md5s(served / "mnist")
    corrupted = served / "mnist" / "train-labels-idx1-ubyte.gz"
    corrupted.write_bytes(corrupted.read_bytes() + b"garbage")
    actual = hashlib.md5(corrupted.read_bytes()).hexdigest()
    monkeypatch.setitem(mnist.CHECKSUMS, "mnist", expected)
    with pytest.raises(DatasetError) as info:
        load_dataset("mnist", mirror=url)
    message = str(info.value)
    assert "train-labels-idx1-ubyte.gz" in message
    assert expected["train-labels-idx1-ubyte.gz"] in message and actual in message
    assert not (data_cache / "mnist" / "train-labels-idx1-ubyte.gz").exists()
    assert _leftovers(data_cache) == []


def test_unreachable_source_reports_paths_and_failure(http_mirror, data_cache: Path, tmp_path: Path) -> None:
    url, _ = http_mirror  # serves an empty folder: every file is a 404
    with pytest.raises(DatasetError) as info:
        load_dataset("mnist", mirror=url)
    message = str(info.value)
    assert str(data_cache / "mnist") in message
    assert "failed" in message and "404" in message
    assert _leftovers(data_cache) == []


def test_a_given_data_dir_is_the_only_place_looked_at(http_mirror, write_idx_dataset, data_cache: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    url, served = http_mirror
    write_idx_dataset(served / "mnist")  # a download would succeed, and the cache holds a copy too
    monkeypatch.setitem(mnist.CHECKSUMS, "mnist", _md5s(served / "mnist"))
    load_dataset("mnist", mirror=url)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError) as info:
        load_dataset("mnist", data_dir=tmp_path / "empty", mirror=url)
    message = " ".join(str(info.value).split())
    assert str(tmp_path / "empty") in message and "only place looked at" in message
    assert str(data_cache) not in message


def test_cifar_archive_download_is_read_from_the_cache(
    http_mirror, write_cifar, data_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, served = http_mirror
    written = write_cifar(served / "cifar10", "cifar10", archive=True, per_file=2)
    monkeypatch.setitem(cifar.CHECKSUMS, "cifar10", _md5s(served / "cifar10"))
    data = load_dataset("cifar10", mirror=url)
    assert (data_cache / "cifar10" / "cifar-10-python.tar.gz").is_file()
    assert data.train.labels.tolist() == written["train_labels"].tolist()


def test_download_file_replaces_atomically(http_mirror, tmp_path: Path) -> None:
    url, served = http_mirror
    (served / "blob.bin").write_bytes(b"x" * 3000)
    dest = tmp_path / "out" / "blob.bin"
    download_file(f"{url}/blob.bin", dest, hashlib.md5(b"x" * 3000).hexdigest())
    assert dest.read_bytes() == b"x" * 3000
    assert [p.name for p in dest.parent.iterdir()] == ["blob.bin"]


def test_base_url_prefers_argument_then_env_then_official(monkeypatch: pytest.MonkeyPatch) -> None:
    official = "https://example.org/data"
    assert base_url("mnist", official) == "https://example.org/data/"
    monkeypatch.setenv("RETAIN_DATA_MIRROR", "http://env-mirror/")
    assert base_url("mnist", official) == "http://env-mirror/mnist/"
    assert base_url("mnist", official, mirror="http://arg") == "http://arg/mnist/"
