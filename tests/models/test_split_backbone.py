import pytest
import torch

from retain.errors import ConfigError
from retain.models import SPLIT_BACKBONE_NAMES, build_backbone, build_split_backbone

CIFAR_RESNETS = ["resnet14", "resnet20", "resnet26", "resnet32"]


@pytest.mark.parametrize("name", CIFAR_RESNETS)
def test_cifar_resnet_split_shapes(name):
    split = build_split_backbone(name, in_channels=3, image_size=32)
    shared = split.generalized(torch.randn(2, 3, 32, 32))
    assert shared.shape == (2, 32, 16, 16)
    assert split.generalized_channels == 32 and split.feature_dim == 64
    assert split.make_specialized()(shared).shape == (2, 64)


@pytest.mark.parametrize("name", [*CIFAR_RESNETS, "convnet2"])
def test_split_works_on_one_channel_28x28(name):
    split = build_split_backbone(name, in_channels=1, image_size=28)
    shared = split.generalized(torch.randn(2, 1, 28, 28))
    assert shared.shape[:2] == (2, split.generalized_channels)
    assert split.make_specialized()(shared).shape == (2, split.feature_dim)


@pytest.mark.parametrize("name", SPLIT_BACKBONE_NAMES)
def test_composition_matches_full_backbone_shape(name):
    split = build_split_backbone(name, 3, 32)
    x = torch.randn(2, 3, 32, 32)
    composed = split.make_specialized()(split.generalized(x))
    assert composed.shape == build_backbone(name, 3, 32)(x).shape == (2, split.feature_dim)


def test_each_specialized_block_is_a_fresh_module():
    split = build_split_backbone("resnet14")
    first, second = split.make_specialized(), split.make_specialized()
    assert first is not second
    assert not set(map(id, first.parameters())) & set(map(id, second.parameters()))


def test_last_relu_reaches_the_specialized_block():
    for last_relu, can_be_negative in [(True, False), (False, True)]:
        specialized = build_split_backbone("resnet20", last_relu=last_relu).make_specialized()
        with torch.no_grad():
            specialized.stage3[-1].bn2.bias.fill_(-100.0)
        features = specialized(torch.randn(2, 32, 16, 16))
        assert bool((features < 0).any()) is can_be_negative


def test_non_splittable_backbone_is_refused():
    with pytest.raises(ConfigError, match=r"'mlp'.*cannot be split.*resnet32"):
        build_split_backbone("mlp")
    with pytest.raises(ConfigError, match="Did you mean 'convnet2'"):
        build_split_backbone("convnet3")
