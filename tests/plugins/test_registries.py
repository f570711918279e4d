"""The public registries' rules: what a registered dataset or backbone must return, and how mistakes are named."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from retain import ConfigError, DatasetError, dataset_from_arrays, register_backbone, register_dataset
from retain.data import declared_geometry, load_dataset
from retain.models import build_backbone, build_split_backbone, split_backbone_names
from retain.registry import Registry


def _arrays(n=6, shape=(1, 4, 4), classes=3):
    images = np.arange(n * int(np.prod(shape)), dtype=np.uint8).reshape(n, *shape)
    return images, np.arange(n) % classes


def test_a_loader_returning_arrays_becomes_a_dataset_with_statistics():
    @register_dataset("test-arrays", image_shape=(1, 4, 4), num_classes=3)
    def arrays(request, *, copies: int = 1):
        images, labels = _arrays()
        return np.concatenate([images] * copies), np.concatenate([labels] * copies), images, labels

    assert declared_geometry("test-arrays") == ((1, 4, 4), 3)
    dataset = load_dataset("Test-Arrays", options={"copies": 2})  # names match without case
    assert len(dataset.train) == 12 and dataset.class_names == ["0", "1", "2"]
    assert dataset.mean[0] == pytest.approx(_arrays()[0].mean() / 255)
    with pytest.raises(ConfigError, match=r"Dataset 'test-arrays' has no option 'copy' \(data.options\)"):
        load_dataset("test-arrays", options={"copy": 2})


@pytest.mark.parametrize(
    ("arrays", "needle"),
    [
        (lambda i, y: (i.astype(np.float32), y, i, y), "train images must be uint8 with shape (N, C, H, W)"),
        (lambda i, y: (i[:, 0], y, i, y), "train images must be uint8 with shape (N, C, H, W)"),
        (lambda i, y: (i, y.astype(np.float64), i, y), "train labels must be integers"),
        (lambda i, y: (i, y[:-1], i, y), "train labels must be integers of shape (6,)"),
        (lambda i, y: (i, y, i[:0], y[:0]), "has no test images"),
        (lambda i, y: (np.zeros((6, 5, 5, 3), np.uint8), y, np.zeros((6, 5, 5, 3), np.uint8), y),
         "they look channels-last (N, H, W, C)"),
        (lambda i, y: (i[:, :, :, :3], y, i[:, :, :, :3], y), "the images are 4x3 (height x width); retain's backbones take square"),
    ],
)
def test_arrays_that_are_not_uint8_images_and_int_labels_are_named(arrays, needle):
    with pytest.raises(DatasetError) as error:
        dataset_from_arrays("bad", *arrays(*_arrays()))
    assert needle in str(error.value) and "'bad'" in str(error.value)


def test_class_names_bound_the_labels():
    images, labels = _arrays()
    with pytest.raises(DatasetError, match="labels from 0 to 2; expected 0 to 1"):
        dataset_from_arrays("named", images, labels, images, labels, class_names=["a", "b"])


def test_a_loader_returning_something_else_and_a_declaration_that_differs():
    @register_dataset("test-wrong-type")
    def wrong_type(request):
        return {"train": None}

    with pytest.raises(DatasetError, match="returned dict; it must return a retain Dataset or the tuple"):
        load_dataset("test-wrong-type")

    @register_dataset("test-misdeclared", image_shape=(1, 8, 8), num_classes=3)
    def misdeclared(request):
        images, labels = _arrays()
        return images, labels, images, labels

    with pytest.raises(DatasetError, match=r"declares images of shape \(1, 8, 8\).*hold images of shape \(1, 4, 4\)"):
        load_dataset("test-misdeclared")

    @register_dataset("test-fewer-classes", image_shape=(1, 4, 4), num_classes=5)
    def fewer_classes(request):
        images, labels = _arrays()
        return images, labels, images, labels

    with pytest.raises(DatasetError, match=r"declares num_classes=5 \(register_dataset\), but its loader returned 3 classes"):
        load_dataset("test-fewer-classes")  # the dry run would show 5 classes, the plan 3

    @register_dataset("test-label-outside", image_shape=(1, 4, 4), num_classes=2)
    def label_outside(request):
        images, labels = _arrays()  # labels 0, 1, 2: label 2 on 2 of the 6 rows
        return images, labels, images[:2], labels[:2]

    with pytest.raises(DatasetError, match=r"declares num_classes=2 .* its train split has label 2 on 2 row\(s\)"):
        load_dataset("test-label-outside")

    @register_dataset("test-folder-subset", image_shape=(1, 4, 4), num_classes=5, resizable=True)
    def folder_subset(request):
        images, labels = _arrays()
        return images, labels, images, labels

    with pytest.warns(UserWarning, match=r"registered with image_shape=\(1, 4, 4\), num_classes=5"):
        assert load_dataset("test-folder-subset").num_classes == 3  # a folder copy may hold a subset: said, used


def test_a_backbone_must_be_a_module_with_out_dim_and_only_split_ones_serve_memo():
    @register_backbone("test-no-out-dim")
    def no_out_dim(in_channels, image_size):
        return nn.Linear(in_channels * image_size * image_size, 4)

    with pytest.raises(ConfigError, match="not an nn.Module with an integer `out_dim`"):
        build_backbone("test-no-out-dim", 1, 4)
    assert "test-no-out-dim" not in split_backbone_names()
    with pytest.raises(ConfigError, match="cannot be split into generalized and specialized blocks"):
        build_split_backbone("test-no-out-dim", 1, 4)

    class Flat(nn.Module):
        out_dim = 16

        def forward(self, x):
            return x.flatten(1)

    register_backbone("test-flat")(lambda in_channels, image_size: Flat())
    assert build_backbone("test-flat", 1, 4)(torch.zeros(2, 1, 4, 4)).shape == (2, 16)


def test_registry_names_are_non_empty_strings_and_unknown_ones_suggest_the_closest():
    registry: Registry[int] = Registry("widget", "model.widget")
    registry.add("spinner", 1)
    with pytest.raises(ValueError, match="non-empty string"):
        registry.add(" ", 2)
    with pytest.raises(ConfigError, match=r"Unknown widget \(model.widget\) 'spiner'.*Did you mean 'spinner'"):
        registry.get("spiner")
    with pytest.raises(ValueError, match="widget 'spinner' is already registered"):
        registry.add("spinner", 3)


def test_a_data_setting_the_named_dataset_does_not_read_is_refused_naming_it_and_what_it_reads():
    from retain.runs.config import build_config

    for setting in ("data.dir=/tmp", "data.download=false", "data.mirror=http://example.org", "data.path=/x"):
        with pytest.raises(ConfigError, match=rf"{setting.split('=')[0]}=.*dataset 'digits' \(data.name\) does not read .*no effect.*It reads: none"):
            build_config(preset="demo", overrides=[setting])
    with pytest.raises(ConfigError, match=r"data.path='/x': dataset 'mnist' .* It reads: data.dir, data.download, data.mirror\."):
        build_config(preset="demo", overrides=["data.name=mnist", "data.path=/x"])
    with pytest.raises(ConfigError, match=r"data.dir=.*dataset 'hf' .* It reads: data.path\."):
        build_config(preset="demo", overrides=["data.name=hf", "data.dir=/tmp", "data.path=/x"])
    assert build_config(preset="demo", overrides=["data.download=true"]).data.download  # the default: nothing chosen
    assert build_config(preset="demo", overrides=["data.name=mnist", "data.dir=/tmp"]).data.dir == "/tmp"

    @register_dataset("test-reads-all")
    def reads_all(request):
        images, labels = _arrays()
        return images, labels, images, labels

    assert build_config(preset="demo", overrides=["data.name=test-reads-all", "data.path=/x"]).data.path == "/x"  # plugins: everything
    with pytest.raises(ValueError, match="reads must be a list of dir, download, mirror, path"):
        register_dataset("test-reads-bad", reads=("folder",))
