"""WA: weight alignment (shared with DER and MEMO) and the λ-weighted distillation loss (spec §10.6 item 1)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from retain.experiment.config import build_config
from retain.experiment.run import build_setup, run
from retain.methods.base import Batch
from retain.methods.bias_correction import weight_align
from retain.methods.distillation import kd_loss
from retain.models import IncrementalLinear


def wa_config(*overrides: str):
    base = ["method.name=wa", "scenario.num_tasks=2", "train.epochs=1"]
    return build_config(preset="demo", overrides=[*base, *overrides], seed=0)


def test_weight_align_equalises_mean_row_norms_and_keeps_old_rows_and_biases():
    torch.manual_seed(0)
    head = IncrementalLinear(128, 20)
    with torch.no_grad():
        head.weight[10:] *= 3.0
        head.bias.uniform_(-1, 1)
    old_rows, bias = head.weight[:10].detach().clone(), head.bias.detach().clone()
    norms = head.weight.detach().norm(dim=1)
    expected_gamma = (norms[:10].mean() / norms[10:].mean()).item()
    gamma = weight_align(head, 10)
    assert gamma == pytest.approx(expected_gamma, rel=1e-6)
    after = head.weight.detach().norm(dim=1)
    assert after[10:].mean().item() == pytest.approx(after[:10].mean().item(), rel=1e-6)
    assert torch.equal(head.weight[:10], old_rows) and torch.equal(head.bias, bias)


def test_weight_align_without_old_classes_is_a_no_op():
    head = IncrementalLinear(8, 4)
    before = head.weight.detach().clone()
    assert weight_align(head, 0) == 1.0 and torch.equal(head.weight, before)


def test_loss_is_one_minus_lambda_ce_plus_lambda_kd():
    setup = build_setup(wa_config())
    method = setup.method
    method.before_task(setup.plan.tasks[0])
    method.before_task(setup.plan.tasks[1])
    assert method.old_classes == 2
    images = torch.randn(6, 1, 8, 8)
    labels = torch.tensor([0, 1, 2, 3, 2, 3])
    batch = Batch(images=images, labels=labels, raw=images, from_memory=torch.zeros(6, dtype=torch.bool), indices=torch.arange(6))
    method.network.eval()
    loss = method.training_loss(batch)
    logits = method.network(images)["logits"]
    old = method.teacher(images)["logits"]
    lam = 2 / 4
    expected = (1 - lam) * F.cross_entropy(logits, labels) + lam * kd_loss(logits[:, :2], old, 2.0)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)


def test_wa_learns_and_aligns_after_the_second_task(tmp_path):
    results = run(wa_config("train.epochs=10"), out=tmp_path / "run")
    assert results["stage_accuracy"][-1] > 60  # chance is 25 %
    assert results["primary_score"] == "cnn"
    assert len(results["method_results"]["alignment_gamma"]) == 1
