"""LUCIR (spec §1.3, acceptance checks §10.1 items 5-6): loss terms, cosine classifier, imprinting, a run."""

import math

import pytest
import torch

from retain.engine.trainer import train_task
from retain.errors import ConfigError
from retain.runs.config import build_config
from retain.runs.loop import build_setup, run
from retain.methods.lucir import (
    adaptive_lambda,
    class_means,
    imprinted_weights,
    less_forget_loss,
    margin_ranking_loss,
)
from retain.models import build_backbone, count_parameters
from retain.models.cosine import CosineNet, SplitCosineHead

DIGITS = ["method.name=lucir", "memory.budget=100 images", "train.epochs=3", "scenario.num_tasks=2"]


# ---------------------------------------------------------------------- adaptive λ
def test_adaptive_lambda_matches_the_spec_examples():
    assert adaptive_lambda(5, 50, 10) == pytest.approx(11.180, abs=5e-4)   # CIFAR-100 50+10×5, phase 2
    assert adaptive_lambda(5, 60, 10) == pytest.approx(12.247, abs=5e-4)   # phase 3
    assert adaptive_lambda(10, 50, 10) == pytest.approx(22.361, abs=5e-4)  # ImageNet-sub, phase 2


# ---------------------------------------------------------------------- margin ranking
def test_margin_ranking_uses_the_k_hardest_new_scores_of_old_samples():
    # Classes 0-1 old, 2-4 new; the sample is of old class 0 with s_gt = 0.6.
    cosine = torch.tensor([[0.6, 0.9, 0.5, 0.3, 0.0]])
    loss = margin_ranking_loss(cosine, torch.tensor([0]), num_old=2, margin=0.5, k=2)
    assert loss.item() == pytest.approx((0.4 + 0.2) / 2)


def test_margin_ranking_ignores_new_class_samples():
    cosine = torch.tensor([[0.6, 0.9, 0.5, 0.3, 0.0], [0.0, 0.0, 0.9, 0.8, 0.7]])
    only_new = margin_ranking_loss(cosine[1:], torch.tensor([3]), num_old=2, margin=0.5, k=2)
    assert only_new.item() == 0.0
    mixed = margin_ranking_loss(cosine, torch.tensor([0, 3]), num_old=2, margin=0.5, k=2)
    assert mixed.item() == pytest.approx(0.3)


def test_margin_ranking_is_zero_when_the_margin_holds():
    cosine = torch.tensor([[0.9, 0.1, 0.2]])
    assert margin_ranking_loss(cosine, torch.tensor([0]), num_old=1, margin=0.5, k=2).item() == 0.0


# ---------------------------------------------------------------------- less forget
def test_less_forget_is_one_minus_cosine_averaged_over_every_sample():
    old = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    new = torch.tensor([[2.0, 0.0], [0.0, 3.0], [-1.0, 0.0]])  # equal direction, orthogonal, opposite
    assert less_forget_loss(new, old).item() == pytest.approx((0 + 1 + 2) / 3)
    assert less_forget_loss(old, old).item() == pytest.approx(0.0, abs=1e-7)


# ---------------------------------------------------------------------- classifier
def test_cosine_logits_start_in_unit_range_with_one_shared_sigma():
    head = SplitCosineHead(6, 4)
    assert head.sigma.numel() == 1 and head.sigma.item() == 1.0
    logits = head(torch.randn(32, 6) * 10)
    assert logits.abs().max() <= 1.0 + 1e-6
    with torch.no_grad():
        head.sigma.fill_(3.0)
    features = torch.randn(5, 6)
    assert torch.allclose(head(features), 3.0 * head.cosine(features))


def test_grow_freezes_old_rows_and_appends_trainable_ones():
    head = SplitCosineHead(4, 3)
    before = head.new_weight.detach().clone()
    head.grow(2)
    assert head.num_old == 3 and head.num_classes == 5
    assert not head.old_weight.requires_grad and head.new_weight.requires_grad
    assert torch.equal(head.old_weight, before)
    trainable = [p for p in head.parameters() if p.requires_grad]
    assert len(trainable) == 2  # new rows and σ


def test_head_is_left_out_of_the_backbone_count():
    backbone = build_backbone("mlp", 1, 8, hidden=[16], last_relu=False)
    net = CosineNet(backbone, 3)
    assert count_parameters(net) == count_parameters(backbone)


def test_cosine_head_loads_a_checkpoint_with_more_rows():
    source = SplitCosineHead(4, 2)
    source.grow(3)
    target = SplitCosineHead(4, 0)
    target.load_state_dict(source.state_dict())
    assert target.num_old == 2 and target.num_classes == 5
    assert torch.equal(target.weight, source.weight)


def test_imprinted_weight_is_the_normalised_mean_at_the_old_norm():
    features = torch.tensor([[3.0, 0.0], [0.0, 4.0]])  # normalised: e1, e2; mean (½, ½)
    old = torch.tensor([[1.0, 0.0], [0.0, 3.0]])       # norms 1 and 3: mean 2
    row = imprinted_weights([features], old)[0]
    assert torch.allclose(row, torch.tensor([math.sqrt(2), math.sqrt(2)]))
    assert row.norm().item() == pytest.approx(2.0)


def test_class_means_are_normalised_means_of_normalised_features():
    features = torch.tensor([[2.0, 0.0], [0.0, 1.0], [0.0, 5.0]])
    means = class_means(features, torch.tensor([0, 0, 1]), 3)
    assert torch.allclose(means[0], torch.tensor([1.0, 1.0]) / math.sqrt(2))
    assert torch.allclose(means[1], torch.tensor([0.0, 1.0]))
    assert torch.equal(means[2], torch.zeros(2))


# ---------------------------------------------------------------------- on the engine
def _setup(overrides=()):
    return build_setup(build_config(preset="demo", overrides=[*DIGITS, *overrides]))


def test_backbone_has_no_final_relu():
    setup = _setup()
    features = setup.method.network(torch.randn(64, 1, 8, 8))["features"]
    assert (features < 0).any()


def test_second_task_imprints_freezes_old_rows_and_adds_lf_and_mr():
    setup = _setup(["memory.budget=60 images"])
    method, ctx = setup.method, setup.ctx
    first, second = setup.plan.tasks[:2]
    method.before_task(first)
    train_task(method, first, ctx)
    method.after_task(first)
    method.before_task(second)
    head = method.network.head
    old_rows = head.old_weight.detach().clone()
    assert head.num_old == 2 and head.num_classes == 4
    # Imprinted rows have the mean norm of the old rows.
    assert torch.allclose(head.new_weight.norm(dim=1), old_rows.norm(dim=1).mean().expand(2), rtol=1e-5)
    assert method.lambda_t == pytest.approx(5.0 * math.sqrt(2 / 2))
    new_before = head.new_weight.detach().clone()
    train_task(method, second, ctx)
    assert torch.equal(head.old_weight, old_rows)            # fc1: lr 0, no weight decay
    assert not torch.equal(head.new_weight, new_before)      # fc2 learns
    batch_images = ctx.augmenter.eval(ctx.dataset.train.images[:16])
    from retain.methods.base import Batch

    labels = torch.tensor([0, 3] * 8)
    batch = Batch(images=batch_images, labels=labels, raw=ctx.dataset.train.images[:16],
                  from_memory=torch.zeros(16, dtype=torch.bool), indices=torch.arange(16))
    _, terms = method.training_loss(batch)
    assert set(terms) == {"ce", "lf", "mr"}


def test_herding_variant_is_lucir_by_default():
    setup = _setup()
    assert setup.method.memory.policy.variant == "lucir"
    assert _setup(["method.herding=icarl"]).method.memory.policy.variant == "icarl"


def test_quality_auto_needs_mrdc():
    with pytest.raises(ConfigError, match="mrdc"):
        _setup(["memory.codec=jpeg", "memory.quality=auto"])


def test_lucir_learns_and_reports_cnn_nme_and_ncm(tmp_path):
    result = run(build_config(preset="demo", overrides=DIGITS), out=tmp_path / "lucir")
    assert result["primary_score"] == "cnn"
    assert set(result["accuracy"]) == {"cnn", "nme", "ncm"}
    # Two tasks of two classes: chance on the four seen classes is 25%.
    for score in ("cnn", "nme", "ncm"):
        assert result["accuracy"][score]["stage"][-1] > 50
    last = result["ledger"][-1]
    assert last["total_bytes"] <= last["budget_bytes"]


def test_class_balanced_finetuning_moves_only_the_new_rows():
    setup = _setup(["memory.budget=60 images", "method.cb_finetune=true", "method.cbf_epochs=2", "method.cbf_milestones=[1]"])
    method, ctx = setup.method, setup.ctx
    for task in setup.plan.tasks[:2]:
        method.before_task(task)
        train_task(method, task, ctx)
        if task.index == 1:
            backbone = {k: v.clone() for k, v in method.network.backbone.state_dict().items()}
            new_rows = method.network.head.new_weight.detach().clone()
            old_rows = method.network.head.old_weight.detach().clone()
        method.after_task(task)
    head = method.network.head
    assert all(torch.equal(v, method.network.backbone.state_dict()[k]) for k, v in backbone.items())
    assert torch.equal(head.old_weight, old_rows)
    assert not torch.equal(head.new_weight, new_rows)
