"""DER (Dynamically Expandable Representation): whole backbones per task, distinct from DER++ (spec §6, §10.6)."""

from __future__ import annotations

import torch

from retain.runs.config import build_config
from retain.runs.loop import build_setup, run
from retain.methods import get_method_class, method_names
from retain.methods.der import DER
from retain.methods.memo import Memo
from retain.models import count_parameters


def der_config(*overrides: str):
    base = ["method.name=der", "model.backbone=convnet2", "model.options={}", "scenario.num_tasks=2", "train.epochs=1"]
    return build_config(preset="demo", overrides=[*base, *overrides], seed=0)


def test_der_is_the_expandable_representation_not_dark_experience_replay():
    assert get_method_class("der") is DER
    assert "expandable" in (DER.__doc__ or "").lower()
    if "derpp" in method_names():
        assert get_method_class("derpp") is not DER
    assert DER.model_growth == "backbone" and Memo.model_growth == "specialized"


def test_each_task_adds_a_whole_backbone_copied_from_the_last_and_freezes_the_old():
    setup = build_setup(der_config())
    method = setup.method
    for task in setup.plan.tasks:
        method.before_task(task)
    net = method.network
    whole = count_parameters(setup.ctx.build_backbone())
    assert [count_parameters(b) for b in net.branches] == [whole, whole]
    assert method.extra_branch_parameters() == whole
    for new, old in zip(net.branches[1].state_dict().values(), net.branches[0].state_dict().values()):
        assert torch.equal(new, old)
    assert all(not p.requires_grad for p in net.branches[0].parameters())
    trainable = {id(p) for p in method.trainable_parameters()}
    assert not any(id(p) in trainable for p in net.branches[0].parameters())
    assert net.head.weight.shape == (4, 2 * net.branch_dim)


def test_der_learns_with_weight_alignment(tmp_path):
    results = run(der_config("train.epochs=5"), out=tmp_path / "run")
    assert results["stage_accuracy"][-1] > 60  # chance is 25 %
    assert len(results["method_results"]["alignment_gamma"]) == 1
