"""BiC: λ·KD + (1−λ)·CE in stage 1, a bias layer on the newest task's logits only (spec §10.6 item 2)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from retain.errors import ConfigError
from retain.runs.config import build_config
from retain.runs.loop import build_setup, run
from retain.methods.base import Batch
from retain.methods.bias_correction import BiasCorrection
from retain.methods.distillation import kd_loss


def bic_config(*overrides: str):
    base = ["method.name=bic", "scenario.num_tasks=2", "train.epochs=1"]
    return build_config(preset="demo", overrides=[*base, *overrides], seed=0)


def test_bias_layer_changes_only_the_newest_task_logits():
    layer = BiasCorrection()
    layer.add(4, 6)
    with torch.no_grad():
        layer.alphas[0].fill_(0.5)
        layer.betas[0].fill_(-1.0)
    logits = torch.randn(3, 6)
    out = layer(logits)
    assert torch.equal(out[:, :4], logits[:, :4])
    assert torch.allclose(out[:, 4:], 0.5 * logits[:, 4:] - 1.0)
    layer.add(6, 8)  # a later task: the first pair freezes and still applies
    assert not layer.alphas[0].requires_grad and layer.alphas[1].requires_grad
    wider = torch.randn(3, 8)
    assert torch.allclose(layer(wider)[:, 4:6], 0.5 * wider[:, 4:6] - 1.0)
    assert torch.equal(layer(wider)[:, 6:], wider[:, 6:])
    # A teacher's narrower logits are left alone past its width.
    assert torch.equal(layer(logits[:, :4]), logits[:, :4])


def test_stage_one_loss_and_held_out_split():
    setup = build_setup(bic_config())
    method = setup.method
    first, second = setup.plan.tasks
    method.before_task(first)
    method.after_task(first)
    method.before_task(second)
    per_class = method.validation_per_class(len(first.seen_classes))
    # PyCIL's rule (models/bic.py): split_ratio x memory / the classes known before the task.
    # The demo's 100 images, split_ratio 0.1: 10 / 2 old classes = 5 per class (PyCIL's 5);
    # dividing by the 4 seen classes would give 2.
    assert (len(first.seen_classes), len(second.seen_classes)) == (2, 4)
    assert per_class == 5
    labels = setup.dataset.train.labels[method.val_stream]
    assert sorted(labels.tolist()) == sorted([c for c in second.new_classes for _ in range(per_class)])
    phase_stream = method.training_phases(second)[0].stream
    assert not torch.isin(phase_stream, method.val_stream).any()
    assert phase_stream.numel() + method.val_stream.numel() == len(second.train_indices)
    held_labels = method.memory.store.labels[method.val_slots]
    assert sorted(held_labels.unique().tolist()) == list(range(method.old_classes))

    images = torch.randn(6, 1, 8, 8)
    targets = torch.tensor([0, 1, 2, 3, 2, 3])
    batch = Batch(images=images, labels=targets, raw=images, from_memory=torch.zeros(6, dtype=torch.bool), indices=torch.arange(6))
    method.network.eval()
    loss = method.training_loss(batch)
    logits = method.network(images)["logits"]
    lam = 2 / 4
    expected = lam * kd_loss(logits[:, :2], method.teacher(images)["logits"], 2.0) + (1 - lam) * F.cross_entropy(logits, targets)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)


def test_held_out_memory_rows_do_not_train_stage_one():
    setup = build_setup(bic_config())
    method = setup.method
    first, second = setup.plan.tasks
    method.before_task(first)
    method.after_task(first)
    method.before_task(second)
    slot = int(method.val_slots[0])
    raw = method.memory.store.gather(torch.tensor([slot]))
    image = setup.ctx.augmenter.eval(raw)
    label = method.memory.store.labels[[slot]]
    held = Batch(images=image.repeat(2, 1, 1, 1), labels=label.repeat(2), raw=raw.repeat(2, 1, 1, 1),
                 from_memory=torch.tensor([True, False]), indices=torch.tensor([slot, 0]))
    alone = Batch(images=image, labels=label, raw=raw, from_memory=torch.tensor([False]), indices=torch.tensor([0]))
    method.network.eval()
    # A batch of two against a batch of one: another shape may take another kernel, so equal to
    # float32 tolerance, not bit for bit.
    torch.testing.assert_close(method.training_loss(held), method.training_loss(alone))


def test_streaming_policy_is_refused():
    with pytest.raises(ConfigError, match="streaming"):
        build_setup(bic_config("memory.policy=reservoir")).method.check_setup()


def test_bic_learns_and_trains_a_bias_layer(tmp_path):
    results = run(bic_config("train.epochs=10"), out=tmp_path / "run")
    assert results["stage_accuracy"][-1] > 60  # chance is 25 %
    layers = results["method_results"]["bias_layers"]
    assert layers["ranges"] == [[2, 4]]
    assert (layers["alphas"][0], layers["betas"][0]) != (1.0, 0.0)
