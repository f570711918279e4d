"""Rainbow Memory's layers as model options (issue 23, items 2-3): the MLP's bias-free Linear
layers and BatchNorm ε (`model.options.bias`, `model.options.bn_eps`), and GDumb's/joint's head,
a bias-free Linear with a BatchNorm over the logits (`model.head_norm: batchnorm`)."""

import json

import pytest
import torch

from retain.errors import ConfigError
from retain.runs.config import build_config
from retain.runs.loop import build_setup, resume_run, run
from retain.models import IncrementalNet, NormalizedLinear, build_backbone, count_parameters

DEMO_HEAD_NORM = ["model.options={hidden: [32], batchnorm: true}", "model.head_norm=batchnorm", "model.head_norm_eps=1e-6"]


def test_mlp_bias_and_bn_eps_take_effect_and_the_parameter_count_follows():
    rm = build_backbone("mlp", 1, 28, hidden=[400, 400], batchnorm=True, bias=False, bn_eps=1e-6)
    plain = build_backbone("mlp", 1, 28, hidden=[400, 400], batchnorm=True)
    linears = [m for m in rm.layers if isinstance(m, torch.nn.Linear)]
    norms = [m for m in rm.layers if isinstance(m, torch.nn.BatchNorm1d)]
    assert len(linears) == 2 and all(m.bias is None for m in linears)
    assert len(norms) == 2 and all(m.eps == 1e-6 for m in norms)
    assert all(m.bias is not None for m in plain.layers if isinstance(m, torch.nn.Linear))
    assert all(m.eps == 1e-5 for m in plain.layers if isinstance(m, torch.nn.BatchNorm1d))
    # The budget counts what is there: 400 + 400 biases fewer.
    assert count_parameters(plain) - count_parameters(rm) == 800


@pytest.mark.parametrize(("options", "match"), [
    ({"bias": "no"}, "bias"),
    ({"bn_eps": 0}, "bn_eps"),
    ({"bn_eps": True}, "bn_eps"),
    ({"bn_eps": 1e-6}, "no BatchNorm"),  # batchnorm off: ε would do nothing
])
def test_invalid_rm_options_are_named(options, match):
    with pytest.raises(ConfigError, match=match):
        build_backbone("mlp", 1, 28, **options)


def test_normalized_head_is_bias_free_linear_then_batchnorm_over_logits():
    torch.manual_seed(0)
    head = NormalizedLinear(8, 3, eps=1e-6)
    assert head.linear.bias is None and head.norm.num_features == 3 and head.norm.eps == 1e-6
    x = torch.randn(16, 8)
    head.train()
    out = head(x)
    reference = torch.nn.functional.batch_norm(x @ head.linear.weight.T, None, None, training=True, eps=1e-6)
    torch.testing.assert_close(out, reference)
    # Per-logit statistics: every logit has mean 0 over the batch in train mode.
    torch.testing.assert_close(out.mean(0), torch.zeros(3), atol=1e-5, rtol=0)


def test_normalized_head_grows_keeping_rows_and_statistics():
    torch.manual_seed(0)
    head = NormalizedLinear(8, 4)
    head.train()
    for _ in range(3):
        head(torch.randn(16, 8) * 3 + 1)
    with torch.no_grad():
        head.norm.weight.mul_(2)
    before = {k: v.clone() for k, v in head.state_dict().items()}
    head.grow(2)
    after = head.state_dict()
    assert head.num_classes == 6 and head.norm.num_features == 6
    assert torch.equal(after["linear.weight"][:4], before["linear.weight"])
    for name in ("weight", "bias", "running_mean", "running_var"):
        assert torch.equal(after[f"norm.{name}"][:4], before[f"norm.{name}"])
    assert torch.equal(after["norm.running_mean"][4:], torch.zeros(2))
    assert torch.equal(after["norm.running_var"][4:], torch.ones(2))
    assert torch.equal(after["norm.weight"][4:], torch.ones(2))
    assert after["norm.num_batches_tracked"] == before["norm.num_batches_tracked"] == 3
    assert head(torch.randn(5, 8)).shape == (5, 6)


def test_a_grown_normalized_head_loads_into_a_fresh_one():
    torch.manual_seed(0)
    net = IncrementalNet(build_backbone("mlp", 1, 8, hidden=[16], batchnorm=True), head=NormalizedLinear(16))
    net.grow(2)
    net.train()
    net(torch.randn(4, 1, 8, 8))
    net.grow(3)
    fresh = IncrementalNet(build_backbone("mlp", 1, 8, hidden=[16], batchnorm=True), head=NormalizedLinear(16))
    fresh.load_state_dict(net.state_dict())
    assert fresh.num_classes == 5
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), fresh.state_dict().values()))


@pytest.mark.parametrize("method", ["gdumb", "joint"])
def test_gdumb_and_joint_get_the_logit_batchnorm_and_the_budget_leaves_the_head_out(method):
    setup = build_setup(build_config(preset="demo", overrides=[f"method.name={method}", *DEMO_HEAD_NORM], seed=1))
    task = setup.plan.tasks[0]
    setup.method.before_task(task)
    head = setup.method.network.head
    assert isinstance(head, NormalizedLinear) and head.norm.eps == 1e-6 and head.linear.bias is None
    assert head.num_classes >= len(task.seen_classes)
    plain = build_setup(build_config(preset="demo", overrides=[f"method.name={method}", "model.options={hidden: [32], batchnorm: true}"], seed=1))
    # The head is not charged to the budget (MEMO's convention): the backbone's count is unchanged.
    assert count_parameters(setup.method.network) == count_parameters(plain.method.network)


def test_head_norm_is_refused_by_methods_that_read_the_head_rows():
    with pytest.raises(ConfigError, match=r"model.head_norm='batchnorm' is not supported by method.name='wa'.*gdumb.*joint"):
        build_setup(build_config(preset="demo", overrides=["method.name=wa", *DEMO_HEAD_NORM], seed=1))


def test_head_norm_eps_without_head_norm_is_refused():
    with pytest.raises(ConfigError, match="head_norm_eps"):
        build_config(preset="demo", overrides=["model.head_norm_eps=1e-6"])


def _matrix(path):
    return json.loads((path / "results.json").read_text())["accuracy_matrix"]


def test_a_run_with_the_logit_batchnorm_resumes_bit_exactly(tmp_path):
    # GDumb rebuilds its network (and head) every task; a resume must restore the grown head,
    # its BatchNorm statistics included, and reach the same matrix.
    from tests.runs.test_checkpoint import StopAtEpoch

    overrides = ["method.name=gdumb", *DEMO_HEAD_NORM, "train.epochs=2", "scenario.num_tasks=4", "memory.budget=100 images",
                 "checkpoint.every_epochs=1", "logging.report=false", "logging.tensorboard=false"]
    run(build_config(preset="demo", overrides=overrides), out=tmp_path / "full")
    cut = tmp_path / "cut"
    with pytest.raises(KeyboardInterrupt):
        run(build_config(preset="demo", overrides=overrides), out=cut, reporter=StopAtEpoch(6))
    assert resume_run(cut)["complete"]
    assert _matrix(cut) == _matrix(tmp_path / "full")
