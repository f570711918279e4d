import math

import pytest
import torch

from retain.errors import ConfigError
from retain.models import BACKBONE_NAMES, build_backbone
from retain.models.resnet_cifar import OptionAShortcut

EXPECTED_OUT_DIM = {
    "resnet14": 64, "resnet20": 64, "resnet26": 64, "resnet32": 64,
    "resnet18": 512, "resnet18-reduced": 160, "resnet18-imagenet": 512, "resnet34-imagenet": 512,
    "mlp": 400, "convnet": 64, "convnet2": 64,
}  # fmt: skip
# Narrower variants of the same code for the layout/precision tests, to keep them fast.
CHEAP_OPTIONS = {"resnet18": {"nf": 8}, "resnet18-imagenet": {"nf": 8}, "resnet34-imagenet": {"nf": 8}, "mlp": {"hidden": [64, 64]}}


def test_registry_names():
    assert set(BACKBONE_NAMES) == set(EXPECTED_OUT_DIM)


@pytest.mark.parametrize("name", sorted(EXPECTED_OUT_DIM))
@pytest.mark.parametrize("shape", [(3, 32), (1, 28)])
def test_forward_shape(name, shape):
    channels, size = shape
    torch.manual_seed(0)
    backbone = build_backbone(name, channels, size)
    out = backbone(torch.randn(2, channels, size, size))
    assert backbone.out_dim == EXPECTED_OUT_DIM[name]
    assert out.shape == (2, backbone.out_dim)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", sorted(EXPECTED_OUT_DIM))
def test_channels_last_gives_the_same_features(name):
    torch.manual_seed(0)
    backbone = build_backbone(name, 3, 32, **CHEAP_OPTIONS.get(name, {})).eval()
    x = torch.randn(2, 3, 32, 32)
    expected = backbone(x)
    backbone = backbone.to(memory_format=torch.channels_last)
    got = backbone(x.contiguous(memory_format=torch.channels_last))
    assert torch.allclose(got, expected, rtol=1e-4, atol=1e-4 * expected.abs().max().item())


@pytest.mark.parametrize("name", sorted(EXPECTED_OUT_DIM))
def test_bf16_autocast_forward_and_backward(name):
    torch.manual_seed(0)
    # 32 px, not less: torch's CPU bf16 backward of a stride-2 conv on a 1×1 map (the
    # ImageNet ResNet-18's layer4 at 16 px) intermittently yields NaN weight gradients.
    backbone = build_backbone(name, 3, 32, **CHEAP_OPTIONS.get(name, {}))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = backbone(torch.randn(2, 3, 32, 32))
    assert out.dtype == torch.bfloat16 and out.shape == (2, backbone.out_dim)
    out.float().sum().backward()
    grads = [p.grad for p in backbone.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def _shift_last_batchnorm(backbone, shift):
    """Push the last block's pre-activation down, as a trained BN bias may do."""
    last_bn = [m for m in backbone.modules() if isinstance(m, torch.nn.BatchNorm2d)][-1]
    with torch.no_grad():
        last_bn.bias.fill_(shift)
    return backbone


@pytest.mark.parametrize("name", ["resnet32", "resnet18-reduced"])
def test_last_relu_false_allows_negative_features(name):
    x = torch.randn(2, 3, 32, 32)
    with_relu = _shift_last_batchnorm(build_backbone(name, 3, 32, last_relu=True), -100.0)(x)
    without_relu = _shift_last_batchnorm(build_backbone(name, 3, 32, last_relu=False), -100.0)(x)
    assert (with_relu >= 0).all()
    assert (without_relu < 0).any()


def test_cifar_resnet_he_initialisation():
    torch.manual_seed(0)
    backbone = build_backbone("resnet32", 3, 32)
    conv = backbone.specialized.stage3[1].conv2  # 64 -> 64, 3x3: 36,864 weights
    assert conv.weight.std().item() == pytest.approx(math.sqrt(2 / (3 * 3 * 64)), rel=0.03)
    bn = backbone.specialized.stage3[1].bn2
    assert torch.equal(bn.weight, torch.ones(64)) and torch.equal(bn.bias, torch.zeros(64))


def test_option_a_shortcut_subsamples_and_zero_pads():
    x = torch.randn(2, 16, 8, 8)
    out = OptionAShortcut(extra_channels=16, stride=2)(x)
    assert out.shape == (2, 32, 4, 4)
    assert torch.equal(out[:, :16], x[:, :, ::2, ::2])
    assert torch.equal(out[:, 16:], torch.zeros(2, 16, 4, 4))


def test_resnet18_variants():
    assert build_backbone("resnet18", 3, 32, nf=8).out_dim == 64
    imagenet = build_backbone("resnet18-imagenet", 3, 64)
    assert isinstance(imagenet.generalized.stem[3], torch.nn.MaxPool2d)
    assert imagenet.generalized.stem[0].kernel_size == (7, 7)


def test_mlp_options():
    mlp = build_backbone("mlp", 3, 28, hidden=[400, 400], batchnorm=True)
    layer_types = [type(m).__name__ for m in mlp.layers]
    assert layer_types == ["Flatten", "Linear", "BatchNorm1d", "ReLU", "Linear", "BatchNorm1d", "ReLU"]
    assert mlp.layers[1].in_features == 28 * 28 * 3
    assert build_backbone("mlp", 1, 8, hidden=[7]).out_dim == 7


def test_unknown_name_suggests_the_closest():
    with pytest.raises(ConfigError, match=r"model\.backbone.*resnet23.*Did you mean 'resnet32'"):
        build_backbone("resnet23", 3, 32)


def test_unknown_option_is_named():
    with pytest.raises(ConfigError, match=r"no option 'last_rel'.*Did you mean 'last_relu'"):
        build_backbone("resnet32", 3, 32, last_rel=False)
    with pytest.raises(ConfigError, match=r"'convnet2' has no option 'nf'"):
        build_backbone("convnet2", 3, 32, nf=8)


@pytest.mark.parametrize(
    ("name", "options", "option"),
    [
        ("resnet32", {"last_relu": "no"}, "last_relu"),
        ("resnet18", {"nf": 0}, "nf"),
        ("mlp", {"hidden": []}, "hidden"),
        ("mlp", {"hidden": [400, -1]}, r"hidden\[1\]"),
        ("mlp", {"batchnorm": 1}, "batchnorm"),
        ("convnet", {"channels": [8, 8, 8, 8, 8, 8]}, "channels"),
    ],
)
def test_invalid_option_values_are_named(name, options, option):
    with pytest.raises(ConfigError, match=option):
        build_backbone(name, 3, 32, **options)


def test_invalid_input_shape_is_named():
    with pytest.raises(ConfigError, match="in_channels"):
        build_backbone("resnet20", 0, 32)
