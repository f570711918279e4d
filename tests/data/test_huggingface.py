"""The Hugging Face `datasets` source (`data.name: hf`) on small datasets the tests write to disk; nothing is downloaded."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from retain.data import load_dataset
from retain.errors import ConfigError, DatasetError

datasets = pytest.importorskip("datasets", reason="the optional Hugging Face source needs `pip install 'retain[hf]'`")


def _grey_images(n, seed, size=(6, 5)):
    return np.random.default_rng(seed).integers(0, 256, (n, *size), dtype=np.uint8)


def _image_split(images, labels, names):
    from PIL import Image

    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=names)})
    return datasets.Dataset.from_dict({"image": [Image.fromarray(a) for a in images], "label": labels}, features=features)


def test_a_saved_dataset_dict_of_images_and_class_labels_becomes_uint8_tensors(tmp_path):
    train_images, test_images = _grey_images(8, 0), _grey_images(4, 1)
    names = ["cat", "dog", "bird"]
    datasets.DatasetDict({
        "train": _image_split(train_images, [0, 1, 2, 0, 1, 2, 0, 1], names),
        "test": _image_split(test_images, [2, 1, 0, 2], names),
    }).save_to_disk(tmp_path / "pets")
    dataset = load_dataset("hf", path=tmp_path / "pets")
    assert dataset.class_names == names and dataset.image_shape == (1, 6, 5)
    assert dataset.train.images.dtype == torch.uint8 and dataset.train.labels.dtype == torch.int64
    torch.testing.assert_close(dataset.train.images[:, 0], torch.from_numpy(train_images))  # PNG is lossless
    torch.testing.assert_close(dataset.test.images[:, 0], torch.from_numpy(test_images))
    assert dataset.test.labels.tolist() == [2, 1, 0, 2]
    assert dataset.mean[0] == pytest.approx(train_images.mean() / 255)


def test_array_columns_string_labels_and_renamed_splits_and_columns(tmp_path):
    rng = np.random.default_rng(2)
    pixels = rng.integers(0, 256, (6, 4, 4, 3), dtype=np.uint8)  # H×W×C, as numpy images are
    def split(rows, labels):
        return datasets.Dataset.from_dict({"pixels": [pixels[i].tolist() for i in rows], "kind": labels})
    datasets.DatasetDict({"training": split([0, 1, 2, 3], ["b", "a", "b", "c"]),
                          "validation": split([4, 5], ["c", "a"])}).save_to_disk(tmp_path / "arrays")
    dataset = load_dataset("hf", path=tmp_path / "arrays", options={
        "image_column": "pixels", "label_column": "kind", "train_split": "training", "test_split": "validation"})
    assert dataset.class_names == ["a", "b", "c"] and dataset.image_shape == (3, 4, 4)
    assert dataset.train.labels.tolist() == [1, 0, 1, 2] and dataset.test.labels.tolist() == [2, 0]
    torch.testing.assert_close(dataset.train.images[1], torch.from_numpy(pixels[1]).permute(2, 0, 1))


def test_a_local_folder_of_parquet_files(tmp_path):
    folder = tmp_path / "parquet"
    folder.mkdir()
    names = ["zero", "one"]
    _image_split(_grey_images(4, 3), [0, 1, 1, 0], names).to_parquet(str(folder / "train.parquet"))
    _image_split(_grey_images(2, 4), [1, 0], names).to_parquet(str(folder / "test.parquet"))
    dataset = load_dataset("hf", path=folder)
    assert len(dataset.train) == 4 and len(dataset.test) == 2 and dataset.num_classes == 2
    torch.testing.assert_close(dataset.test.images[:, 0], torch.from_numpy(_grey_images(2, 4)))


def test_what_is_wrong_is_named(tmp_path):
    names = ["a", "b"]
    train = _image_split(_grey_images(2, 0), [0, 1], names)
    datasets.DatasetDict({"train": train, "valid": train}).save_to_disk(tmp_path / "no-test")
    train.save_to_disk(tmp_path / "single")
    with pytest.raises(ConfigError, match="needs data.path"):
        load_dataset("hf")
    with pytest.raises(DatasetError, match=r"no split 'test' \(data.options.test_split\); its splits are: train, valid"):
        load_dataset("hf", path=tmp_path / "no-test")
    with pytest.raises(DatasetError, match=r"no column 'img'.*its columns are: image, label"):
        load_dataset("hf", path=tmp_path / "no-test", options={"image_column": "img", "test_split": "valid"})
    with pytest.raises(DatasetError, match="holds a single Hugging Face Dataset"):
        load_dataset("hf", path=tmp_path / "single")
    with pytest.raises(DatasetError, match="is not a folder"):
        load_dataset("hf", path=tmp_path / "nowhere")
    with pytest.raises(ConfigError, match=r"Dataset 'hf' has no option 'image_col' \(data.options\).*Did you mean 'image_column'"):
        load_dataset("hf", path=tmp_path / "no-test", options={"image_col": "image"})
    floats = datasets.Dataset.from_dict({"image": [np.zeros((2, 2)).tolist()] * 2, "label": [0, 1]})
    datasets.DatasetDict({"train": floats, "test": floats}).save_to_disk(tmp_path / "floats")
    with pytest.raises(DatasetError, match="must be integers 0..255"):
        load_dataset("hf", path=tmp_path / "floats")


def test_a_run_on_digits_saved_as_a_hugging_face_dataset_learns(tmp_path):
    # Real data: scikit-learn's digits, written by this test with save_to_disk and run like any dataset.
    import retain
    from retain.data import load_dataset as load

    digits = load("digits")
    def split(part):
        return datasets.Dataset.from_dict(
            {"image": part.images[:, 0].numpy().tolist(), "label": part.labels.tolist()},
            features=datasets.Features({"image": datasets.Array2D((8, 8), "uint8"),
                                        "label": datasets.ClassLabel(names=digits.class_names)}))
    datasets.DatasetDict({"train": split(digits.train), "test": split(digits.test)}).save_to_disk(tmp_path / "digits-hf")
    results = retain.run("demo", data={"name": "hf", "path": str(tmp_path / "digits-hf")}, method="finetune",
                         train__epochs=3, out=tmp_path / "run", logging={"tensorboard": False, "report": False})
    assert results["dataset"] == "hf" and len(results.stage_accuracy) == 5
    assert results.accuracy_matrix[0][0] > 90  # two digits told apart, as on the built-in source
