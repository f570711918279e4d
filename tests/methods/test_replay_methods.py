"""replay, iCaRL and GDumb: they learn, keep their memory within budget, and do what defines them."""

import math

import pytest
import torch

from retain.errors import BudgetError
from retain.runs.config import build_config
from retain.runs.loop import build_setup, run
from retain.methods.base import Batch

DEMO = ["train.epochs=8", "memory.budget=100 images"]


def _run(tmp_path, name, *overrides):
    return run(build_config(preset="demo", overrides=[*DEMO, *overrides]), out=tmp_path / name)


@pytest.fixture(scope="module")
def finetune_last(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("ft"), "ft", "method.name=finetune")["metrics"]["last_accuracy"]


@pytest.mark.parametrize("method", ["replay", "icarl", "gdumb"])
def test_memory_methods_beat_finetune_and_stay_in_budget(tmp_path, finetune_last, method):
    results = _run(tmp_path, method, f"method.name={method}")
    assert results["metrics"]["last_accuracy"] > finetune_last + 25
    for entry in results["ledger"]:
        assert 0 < entry["total_bytes"] <= entry["budget_bytes"] == 100 * 64
    # class-balanced: every seen class has floor(100 / seen) exemplars (GDumb: within one of its share)
    last = results["ledger"][-1]["exemplars_per_class"]
    assert len(last) == 10 and max(last.values()) - min(last.values()) <= 1


def test_icarl_reports_cnn_and_nme(tmp_path):
    results = _run(tmp_path, "icarl", "method.name=icarl")
    assert results["primary_score"] == "nme"
    assert set(results["accuracy"]) == {"cnn", "nme"}
    assert results["accuracy"]["nme"]["stage"] != results["accuracy"]["cnn"]["stage"]


def test_streaming_policy_fills_memory_during_training(tmp_path):
    results = _run(tmp_path, "er", "method.name=replay", "memory.policy=reservoir")
    first = results["ledger"][0]
    assert first["exemplars"] == 100      # reservoir filled from the first task's stream
    assert results["ledger"][-1]["exemplars"] == 100


def test_icarl_distillation_uses_frozen_previous_model(tmp_path):
    cfg = build_config(preset="demo", overrides=[*DEMO, "method.name=icarl", "train.epochs=1"])
    setup = build_setup(cfg)
    method, plan, ctx = setup.method, setup.plan, setup.ctx
    from retain.engine.trainer import train_task

    for task in plan.tasks[:2]:
        method.before_task(task)
        if task.index == 0:
            train_task(method, task, ctx)
            method.after_task(task)
    assert method.teacher is not None and method.old_classes == 2
    assert not any(p.requires_grad for p in method.teacher.parameters())
    # A known teacher/student pair: fixed logits, so the loss is computable by hand.
    # Teacher, old classes: (0, 2 ln 3) → softmax at T = 2: (1/4, 3/4).
    # Student: (2 ln 2, 0, 0, ln 2) → old part at T = 2: softmax (2/3, 1/3); all classes: e^z = (4, 1, 1, 2)/8.
    assert method.params.temperature == 2.0
    method.network, method.teacher = _FixedLogits([2 * LN2, 0.0, 0.0, LN2]), _FixedLogits([0.0, 2 * math.log(3)])
    idx = torch.as_tensor(plan.tasks[1].train_indices[:8])
    raw = ctx.dataset.train.images[idx]
    labels = ctx.dataset.train.labels[idx]
    assert set(labels.tolist()) == {2, 3}
    batch = Batch(images=ctx.augmenter.eval(raw), labels=labels, raw=raw,
                  from_memory=torch.zeros(8, dtype=torch.bool), indices=idx)
    cross_entropy = sum(math.log(8) if y == 2 else math.log(4) for y in labels.tolist()) / 8
    kd = -(0.25 * math.log(2 / 3) + 0.75 * math.log(1 / 3))  # −Σ softmax(q/T) log softmax(p/T) = 0.9254
    loss, terms = method.training_loss(batch)  # with a teacher the terms are named for the tracker
    assert loss.item() == pytest.approx(cross_entropy + kd, rel=1e-5)
    assert terms["ce"].item() == pytest.approx(cross_entropy, rel=1e-5) and terms["kd"].item() == pytest.approx(kd, rel=1e-5)
    method.teacher = None
    assert method.training_loss(batch).item() == pytest.approx(cross_entropy, rel=1e-5)


LN2 = math.log(2)


class _FixedLogits(torch.nn.Module):
    """A network answering the same logits for every image."""

    def __init__(self, logits: list[float]):
        super().__init__()
        self.logits = torch.tensor(logits)

    def forward(self, images):
        return {"logits": self.logits.expand(images.shape[0], -1).clone().requires_grad_()}


def test_gdumb_never_trains_on_the_stream(tmp_path):
    cfg = build_config(preset="demo", overrides=[*DEMO, "method.name=gdumb"])
    setup = build_setup(cfg)
    task = setup.plan.tasks[0]
    setup.method.before_task(task)
    phases = setup.method.training_phases(task)
    assert all(p.stream.numel() == 0 and p.memory == "concat" for p in phases)
    assert len(setup.method.memory.store) == 100   # filled greedily from the stream


def test_jpeg_memory_stores_more_exemplars_than_raw_at_equal_bytes(tmp_path):
    common = ["train.epochs=1", "scenario.num_tasks=1", "memory.budget=200 images", "method.name=replay"]
    raw = run(build_config(preset="fmnist-b0-inc2", overrides=common), out=tmp_path / "raw")
    jpeg = run(build_config(preset="fmnist-b0-inc2", overrides=[*common, "memory.codec=jpeg", "memory.quality=50"]),
               out=tmp_path / "jpeg")
    raw_entry, jpeg_entry = raw["ledger"][-1], jpeg["ledger"][-1]
    assert raw_entry["exemplars"] == 200
    assert jpeg_entry["exemplars"] > 1.3 * raw_entry["exemplars"]
    assert jpeg_entry["total_bytes"] <= jpeg_entry["budget_bytes"] == raw_entry["budget_bytes"]


def test_impossible_budget_fails_before_training(tmp_path):
    cfg = build_config(preset="demo", overrides=["method.name=icarl", "memory.budget=5 images"])
    with pytest.raises(BudgetError, match="one exemplar per"):
        run(cfg, out=tmp_path / "impossible")
    assert not (tmp_path / "impossible").exists()


def test_cutmix_reaches_icarl_loss_and_is_refused_where_labels_drive_extra_terms(tmp_path):
    from retain.errors import ConfigError

    results = _run(tmp_path, "cm", "method.name=icarl", "augment.cutmix=true", "augment.cutmix_p=1.0", "train.epochs=2")
    assert results["metrics"]["last_accuracy"] > 20
    with pytest.raises(ConfigError, match="augment.cutmix"):
        build_setup(build_config(preset="demo", overrides=[*DEMO, "method.name=lucir", "augment.cutmix=true"]))
