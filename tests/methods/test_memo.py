"""MEMO: expansion and copy rules, frozen blocks, auxiliary loss, train_base, budget charging (spec §10.2)."""

from __future__ import annotations

import io

import pytest
import torch
import torch.nn.functional as F

from retain.runs.config import build_config
from retain.runs.loop import build_setup, run
from retain.methods.base import Batch
from retain.models import build_split_backbone
from retain.models.adaptive import AdaptiveNet, auxiliary_targets


def memo_net(name: str = "convnet2") -> AdaptiveNet:
    split = build_split_backbone(name, 3, 32)
    return AdaptiveNet(split.generalized, split.make_specialized, split.feature_dim)


def digits_config(*overrides: str):
    base = ["method.name=memo", "model.backbone=convnet2", "model.options={}", "scenario.num_tasks=2", "train.epochs=1"]
    return build_config(preset="demo", overrides=[*base, *overrides], seed=0)


def test_resnet32_split_shapes_for_cifar_input():
    net = memo_net("resnet32")
    net.expand(10)
    shared = net.trunk(torch.zeros(2, 3, 32, 32))
    assert shared.shape == (2, 32, 16, 16)
    assert net.branches[0](shared).shape == (2, 64)


def test_expansion_copies_the_previous_block_and_the_old_head():
    torch.manual_seed(0)
    net = memo_net()
    net.expand(10)
    old_weight, old_bias = net.head.weight.detach().clone(), net.head.bias.detach().clone()
    net.expand(20)
    assert len(net.branches) == 2
    for new, old in zip(net.branches[1].state_dict().values(), net.branches[0].state_dict().values()):
        assert torch.equal(new, old)
    assert net.head.weight.shape == (20, 128)
    assert torch.equal(net.head.weight[:10, :64], old_weight)
    assert torch.equal(net.head.bias[:10], old_bias)
    assert not torch.equal(net.head.weight[:10, 64:], torch.zeros(10, 64))  # fresh init, not copied
    assert (net.aux_head.in_features, net.aux_head.num_classes) == (64, 11)
    assert all(not p.requires_grad for p in net.branches[0].parameters())
    assert all(p.requires_grad for p in net.branches[1].parameters())
    out = net(torch.randn(4, 3, 32, 32))
    assert out["features"].shape == (4, 128) and out["aux_logits"].shape == (4, 11)


def test_old_blocks_keep_their_batchnorm_statistics_while_training():
    net = memo_net()
    net.expand(2)
    net.expand(4)
    net.train()
    frozen = {k: v.clone() for k, v in net.branches[0].state_dict().items()}
    trained = {k: v.clone() for k, v in net.branches[1].state_dict().items()}
    net(torch.randn(8, 3, 32, 32) * 3 + 1)
    assert all(torch.equal(v, net.branches[0].state_dict()[k]) for k, v in frozen.items())
    assert any(not torch.equal(v, net.branches[1].state_dict()[k]) for k, v in trained.items())


def test_auxiliary_targets_of_b0_inc10_task_2():
    labels = torch.tensor([15, 10, 3, 19, 0])
    assert auxiliary_targets(labels, 10).tolist() == [6, 1, 0, 10, 0]


@pytest.mark.parametrize("train_base", [True, False])
def test_generalized_blocks_trainable_iff_train_base(train_base):
    setup = build_setup(digits_config(f"method.train_base={train_base}"))
    method = setup.method
    method.before_task(setup.plan.tasks[0])
    assert all(p.requires_grad for p in method.network.trunk.parameters())
    method.before_task(setup.plan.tasks[1])
    assert all(p.requires_grad == train_base for p in method.network.trunk.parameters())


def test_loss_is_ce_plus_aux_ce_and_aux_head_is_not_used_to_predict():
    setup = build_setup(digits_config())
    method = setup.method
    method.before_task(setup.plan.tasks[0])
    method.before_task(setup.plan.tasks[1])
    images = torch.randn(6, 1, 8, 8)
    labels = torch.tensor([0, 1, 2, 3, 2, 0])
    batch = Batch(images=images, labels=labels, raw=images, from_memory=torch.zeros(6, dtype=torch.bool), indices=torch.arange(6))
    method.network.eval()
    loss, terms = method.training_loss(batch)
    out = method.network(images)
    expected = F.cross_entropy(out["logits"], labels) + F.cross_entropy(out["aux_logits"], torch.tensor([0, 0, 1, 2, 1, 0]))
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    before = method.predict(images).logits.clone()
    with torch.no_grad():
        method.network.aux_head.weight.add_(5.0)
    assert torch.equal(method.predict(images).logits, before)


def test_fair_ledger_charges_the_branches_and_shrinks_exemplars(tmp_path):
    config = digits_config("scenario.num_tasks=3", "budget.protocol=fair", "budget.reference_backbone=convnet2",
                           "budget.reference_exemplars=100", "train.epochs=1")
    results = run(config, out=tmp_path / "run")
    ledger = results["ledger"]
    branches = [entry["items"]["extra_branches"] for entry in ledger]
    specialized = sum(p.numel() for p in build_split_backbone("convnet2", 1, 8).make_specialized().parameters())
    assert branches == [0, 4 * specialized, 8 * specialized]
    room = [entry["budget_bytes"] - entry["items"]["extra_branches"] for entry in ledger]
    assert room[0] > room[1] > room[2]
    assert all(entry["total_bytes"] <= entry["budget_bytes"] for entry in ledger)
    assert results["method_results"]["extra_model_bytes_charged"] is True
    model = results["method_results"]["model_bytes"]
    assert model[1] - model[0] == model[2] - model[1] == 4 * specialized


def test_benchmark_does_not_charge_the_branches_but_records_them(tmp_path):
    results = run(digits_config("train.epochs=1"), out=tmp_path / "run")
    assert all("extra_branches" not in entry["items"] for entry in results["ledger"])
    assert results["method_results"]["extra_model_bytes_charged"] is False
    model = results["method_results"]["model_bytes"]
    assert model[1] > model[0]


def test_memo_learns_and_resumes_from_its_state(tmp_path):
    config = digits_config("train.epochs=5")
    results = run(config, out=tmp_path / "run")
    # Two tasks of two classes: chance is 25 % on all seen classes.
    assert results["stage_accuracy"][-1] > 60
    setup = build_setup(config)
    first = setup.method
    for task in setup.plan.tasks:
        first.before_task(task)
        first.after_task(task)
    buffer = io.BytesIO()
    torch.save(first.state_dict(), buffer)
    buffer.seek(0)
    second = build_setup(config).method
    second.load_state_dict(torch.load(buffer, weights_only=True))
    images = torch.randn(5, 1, 8, 8)
    first.network.eval(), second.network.eval()
    assert torch.equal(first.predict(images).logits, second.predict(images).logits)
    assert second.memory.exemplars_per_class() == first.memory.exemplars_per_class()
