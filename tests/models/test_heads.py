import math

import pytest
import torch

from retain.models import IncrementalLinear


def test_empty_head_returns_no_logits():
    head = IncrementalLinear(8)
    assert head.num_classes == 0
    assert head(torch.randn(3, 8)).shape == (3, 0)


def test_grow_keeps_old_rows_and_biases_bit_identical():
    torch.manual_seed(0)
    head = IncrementalLinear(16, num_classes=5)
    with torch.no_grad():
        head.bias.copy_(torch.randn(5))  # non-zero, as after training
    old_weight, old_bias = head.weight.detach().clone(), head.bias.detach().clone()
    head.grow(3)
    assert head.num_classes == 8
    assert head.weight.shape == (8, 16) and head.bias.shape == (8,)
    assert torch.equal(head.weight[:5], old_weight)
    assert torch.equal(head.bias[:5], old_bias)
    assert torch.equal(head.bias[5:], torch.zeros(3))
    # PyCIL's SimpleLinear (the default): kaiming-uniform(nonlinearity='linear'), bound sqrt(3/fan_in).
    new_rows = head.weight[5:]
    assert new_rows.abs().max() <= math.sqrt(3 / 16)
    assert new_rows.abs().sum() > 0


def test_pycil_linear_and_torch_default_inits_have_their_references_bounds():
    # Issue 17, item 2. PyCIL's SimpleLinear.reset_parameters: kaiming_uniform_(nonlinearity='linear')
    # -> U(±sqrt(3)/sqrt(fan_in)), bias 0. torch.nn.Linear: kaiming_uniform_(a=sqrt(5)) ->
    # U(±1/sqrt(fan_in)), bias U(±1/sqrt(fan_in)). With 400 x 512 draws the largest |w| lies within
    # 1 % of the bound, so each rule is told apart from the other (a factor sqrt(3)).
    torch.manual_seed(0)
    fan_in = 512
    pycil = IncrementalLinear(fan_in, num_classes=400)
    assert pycil.init == "pycil_linear"
    assert 0.99 * math.sqrt(3 / fan_in) < pycil.weight.abs().max() <= math.sqrt(3 / fan_in)
    assert torch.equal(pycil.bias, torch.zeros(400))
    torch_default = IncrementalLinear(fan_in, num_classes=400, init="torch_default")
    reference = torch.nn.Linear(fan_in, 400)
    assert 0.99 / math.sqrt(fan_in) < torch_default.weight.abs().max() <= 1 / math.sqrt(fan_in)
    assert 0.9 / math.sqrt(fan_in) < torch_default.bias.abs().max() <= 1 / math.sqrt(fan_in)
    assert reference.weight.abs().max() <= 1 / math.sqrt(fan_in)
    # The same rule for rows added by growth.
    torch_default.grow(400)
    assert 0.99 / math.sqrt(fan_in) < torch_default.weight[400:].abs().max() <= 1 / math.sqrt(fan_in)
    with pytest.raises(ValueError):
        IncrementalLinear(4, 1, init="xavier")


def test_the_configured_head_init_reaches_every_head():
    from retain.runs.config import build_config
    from retain.runs.loop import build_setup

    setup = build_setup(build_config(preset="demo", overrides=["model.head_init=torch_default"], seed=1))
    assert setup.method.network.head.init == "torch_default"
    assert build_setup(build_config(preset="demo", seed=1)).method.network.head.init == "pycil_linear"


def test_grow_from_zero_and_by_zero():
    head = IncrementalLinear(4)
    head.grow(2)
    head.grow(0)
    assert head.num_classes == 2
    assert head(torch.randn(1, 4)).shape == (1, 2)


def test_logits_of_old_classes_unchanged_after_growth():
    torch.manual_seed(0)
    head = IncrementalLinear(6, num_classes=3)
    with torch.no_grad():
        head.bias.copy_(torch.randn(3))
    old_weight, old_bias = head.weight.detach().clone(), head.bias.detach().clone()
    x = torch.randn(4, 6)
    before = head(x).detach()
    head.grow(4)
    # The parameters are kept bit for bit; the logits come from a matrix product of another
    # shape, which may take another kernel, so they are equal only to float32 tolerance.
    assert torch.equal(head.weight[:3].detach(), old_weight) and torch.equal(head.bias[:3].detach(), old_bias)
    torch.testing.assert_close(head(x)[:, :3].detach(), before)
    assert not torch.allclose(head(x)[:, 3:].detach(), torch.zeros(4, 4))


def test_reset_reinitialises_every_row():
    torch.manual_seed(1)
    head = IncrementalLinear(6, num_classes=3)
    old = head.weight.detach().clone()
    head.reset(5)
    assert head.num_classes == 5
    assert not torch.equal(head.weight[:3].detach(), old)
    assert torch.equal(head.bias.detach(), torch.zeros(5))


def test_growth_keeps_frozen_state_and_new_parameters_are_registered():
    head = IncrementalLinear(4, num_classes=2)
    head.requires_grad_(False)
    head.grow(1)
    assert not head.weight.requires_grad and not head.bias.requires_grad
    assert {name for name, _ in head.named_parameters()} == {"weight", "bias"}


def test_negative_growth_is_rejected():
    with pytest.raises(ValueError):
        IncrementalLinear(4).grow(-1)
