import torch

from retain.models import IncrementalNet, build_backbone


def test_forward_returns_logits_and_features_of_one_pass():
    net = IncrementalNet(build_backbone("convnet2", 3, 32), num_classes=4).eval()
    x = torch.randn(2, 3, 32, 32)
    out = net(x)
    assert out["logits"].shape == (2, 4)
    assert out["features"].shape == (2, 64)
    assert torch.allclose(out["features"], net.features(x))
    assert torch.allclose(out["logits"], net.head(out["features"]))


def test_grow_adds_classes_to_the_head():
    net = IncrementalNet(build_backbone("mlp", 1, 28, hidden=[32]))
    assert net.num_classes == 0 and net.feature_dim == 32
    net.grow(2)
    net.grow(3)
    assert net.num_classes == 5
    assert net(torch.randn(2, 1, 28, 28))["logits"].shape == (2, 5)
