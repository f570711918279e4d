"""The issue-23 ablation plugin (benchmarks/rm_ablation): RM's prototype block as RM builds it, and
the per-call teacher, so the numbers docs/methods/rainbow.md quotes come from what they claim."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

from benchmarks.synthetic import Workload, build_run, synthetic_dataset

PLUGIN = Path(__file__).resolve().parents[2] / "benchmarks" / "rm_ablation" / "rm_ablation.py"


@pytest.fixture(autouse=True)
def plugin(monkeypatch):
    """The plugin registered for one test only: other tests list the registries (e.g. the methods
    that have an rm-code variant) and must not see these ablation methods."""
    from retain.methods import base
    from retain.models import registry

    for table in (base._METHODS, registry._BACKBONES):
        monkeypatch.setattr(table, "_entries", dict(table._entries))
        monkeypatch.setattr(table, "_definitions", dict(table._definitions))
    spec = importlib.util.spec_from_file_location("rm_ablation_plugin", PLUGIN)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "rm_ablation_plugin", module)
    spec.loader.exec_module(module)
    return module


def _run(method: str):
    workload = Workload("rm-proto", "MLP + prototype", "mlp-rm-prototype", (1, 8, 8), {"hidden": [16, 16], "feature_size": 32})
    data = synthetic_dataset((1, 8, 8), 4, 10, 4)
    return build_run(workload, data, method=method, increment=2, batch_size=8, budget="8 images",
                     method_params={"variant": "rm-code"})


def test_prototype_network_is_rms_icarlnet():
    run = _run("icarl-rm-prototype")
    net = run.method.network
    assert net.backbone.out_dim == 32 and net.backbone.fc.bias is not None  # Linear(width -> feature_size), biased
    assert all(layer.bias is None for layer in net.backbone.mlp.layers if isinstance(layer, torch.nn.Linear))
    assert net.head.norm.momentum == 0.01 and net.head.linear.bias is None
    net.grow(2)
    out = net(torch.randn(3, 1, 8, 8))
    assert out["features"].shape == (3, 32) and out["logits"].shape == (3, 2)
    trained = {id(p) for p in run.method.trainable_parameters()}
    assert not any(id(p) in trained for p in net.head.parameters())  # RM's optimiser: feature extractor only
    assert id(net.backbone.fc.weight) in trained


def test_per_call_teacher_is_the_network_at_each_phase():
    from retain.methods.base import Phase

    run = _run("icarl-rm-percall")
    method, plan = run.method, run.plan
    method.before_task(plan.tasks[1])
    with torch.no_grad():
        next(method.network.backbone.parameters()).add_(1.0)  # the stream pass moved the network
    method.before_phase(plan.tasks[1], Phase(stream=torch.empty(0, dtype=torch.long), epochs=1, name="memory epochs"))
    for theirs, ours in zip(method.teacher.parameters(), method.network.parameters()):
        assert torch.equal(theirs, ours)


def test_prototype_memory_keeps_a_full_class_and_herds_one_below_quota():
    from retain.methods.icarl import ICaRL

    run = _run("icarl-rm-memory")
    method = run.method
    method.exposed.update({0, 1, 2, 3})  # quota: 8 images // 4 classes = 2
    images = torch.randint(0, 255, (12, 1, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    kept = method.priority_order(0, images, fresh=10)  # 2 stored rows (10, 11): at the quota
    assert sorted(kept[:2].tolist()) == [10, 11]  # the stored exemplars stay, no new row enters
    assert sorted(ICaRL.priority_order(method, 0, images, fresh=10)[:2].tolist()) != [10, 11]  # herding would differ
    below = method.priority_order(0, images, fresh=11)  # 1 stored row: herded with the new rows, as iCaRL does
    assert torch.equal(below, ICaRL.priority_order(method, 0, images, fresh=11))


def test_deepening_head_adds_a_fresh_block_and_classifier_per_reset():
    run = _run("bic-rm-deepening")
    head = run.method.network.head
    head.grow(4)
    before = [p.detach().clone() for p in head.stack.parameters()]
    old_classifier = head.linear.weight.detach().clone()
    head.reset(4)
    assert len(head.stack) == 2 + 3  # BatchNorm + ReLU, then Linear + BatchNorm + ReLU
    assert isinstance(head.stack[2], torch.nn.Linear) and head.stack[2].weight.shape == (32, 32)
    assert all(torch.equal(a, b) for a, b in zip(before, head.stack.parameters()))  # old layers kept
    assert head.num_classes == 4 and not torch.equal(head.linear.weight, old_classifier)
    out = run.method.network(torch.randn(3, 1, 8, 8))
    assert out["logits"].shape == (3, 4)
