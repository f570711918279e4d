"""Parameter counts of spec §2.6 / §10.2 item 1 (head excluded, BN buffers not counted)."""

import pytest
import torch

from retain.models import IncrementalNet, build_backbone, build_split_backbone, count_parameters, parameter_bytes

CIFAR_IMAGE_BYTES = 32 * 32 * 3
IMAGENET_IMAGE_BYTES = 224 * 224 * 3

# name -> (total, generalized, specialized), spec §2.6 and §2.3
SPLIT_COUNTS = {
    "resnet32": (463_504, 112_016, 351_488),
    "resnet26": (366_288, 88_784, 277_504),
    "resnet20": (269_072, 65_552, 203_520),
    "resnet14": (171_856, 42_320, 129_536),
    "convnet2": (38_976, 1_920, 37_056),
    "resnet18-imagenet": (11_176_512, 2_782_784, 8_393_728),
}


@pytest.mark.parametrize("name", sorted(SPLIT_COUNTS))
def test_split_counts_match_spec(name):
    total, generalized, specialized = SPLIT_COUNTS[name]
    split = build_split_backbone(name, in_channels=3, image_size=32)
    assert count_parameters(split.generalized) == generalized
    assert count_parameters(split.make_specialized()) == specialized
    assert count_parameters(build_backbone(name, 3, 32)) == total


def test_resnet32_costs_603_52_cifar_images():
    assert round(count_parameters(build_backbone("resnet32", 3, 32)) * 4 / CIFAR_IMAGE_BYTES, 2) == 603.52


def test_resnet18_costs_297_imagenet_images():
    backbone = build_backbone("resnet18-imagenet", 3, 224)
    assert round(parameter_bytes(backbone) / IMAGENET_IMAGE_BYTES, 1) == 297.0


def test_batchnorm_buffers_are_not_counted():
    backbone = build_backbone("resnet14", 3, 32)
    with_buffers = count_parameters(backbone) + sum(b.numel() for b in backbone.buffers())
    assert with_buffers > count_parameters(backbone) == 171_856


def test_head_is_excluded_unless_asked():
    net = IncrementalNet(build_backbone("resnet32", 3, 32), num_classes=10)
    assert count_parameters(net) == 463_504
    assert count_parameters(net, exclude_head=False) == 463_504 + 64 * 10 + 10
    assert parameter_bytes(net) == 463_504 * 4


def test_shared_parameters_count_once():
    backbone = build_backbone("convnet2", 3, 32)
    twice = torch.nn.ModuleList([backbone, backbone])
    assert count_parameters(twice) == 38_976


def test_resnet34_imagenet_has_torchvisions_parameters_without_its_head():
    # torchvision's resnet34 holds 21,797,672 parameters, of which its 512 x 1000 fc layer 513,000;
    # the stages hold 3, 4, 6 and 3 basic blocks, and the MEMO split cuts before the fourth.
    split = build_split_backbone("resnet34-imagenet", in_channels=3, image_size=224)
    assert count_parameters(build_backbone("resnet34-imagenet", 3, 224)) == 21_797_672 - 513_000
    assert [len(getattr(split.generalized, name)) for name in ("layer1", "layer2", "layer3")] == [3, 4, 6]
    assert len(split.make_specialized().layer4) == 3
    # LUCIR's last-ReLU removal still reaches the last block of the deeper last stage.
    last = build_split_backbone("resnet34-imagenet", in_channels=3, image_size=224, last_relu=False).make_specialized()
    assert [block.relu_out for block in last.layer4] == [True, True, False]
