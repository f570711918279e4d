"""ER-ACE (spec §6, acceptance check §10.6.4): asymmetric CE, plain CE on the buffer, MAER plug-in."""

import torch
import torch.nn.functional as F

from retain.engine.trainer import train_task
from retain.runs.config import build_config
from retain.runs.loop import build_setup, run
from retain.methods.base import Batch
from retain.methods.er_ace import ace_mask


def test_mask_keeps_present_classes_and_everything_from_the_highest_seen():
    present = torch.tensor([False, False, True, False, False, False])
    seen = torch.tensor([True, True, True, True, False, False])
    assert ace_mask(present, seen, 6, total_classes=10).tolist() == [False, False, True, True, True, True]
    # When the highest seen class is the run's last, only the present classes remain.
    seen_all = torch.ones(6, dtype=torch.bool)
    assert ace_mask(present, seen_all, 6, total_classes=6).tolist() == present.tolist()


def _setup(*overrides):
    config = build_config(preset="demo", overrides=["method.name=er_ace", "memory.budget=40 images", "train.epochs=1",
                                                    "scenario.num_tasks=2", *overrides], seed=4)
    return build_setup(config)


def test_second_task_loss_is_masked_stream_ce_plus_plain_buffer_ce():
    setup = _setup()
    method, ctx = setup.method, setup.ctx
    first, second = setup.plan.tasks
    method.before_task(first)
    train_task(method, first, ctx)
    method.after_task(first)
    method.before_task(second)
    stream_idx = torch.as_tensor(second.train_indices[:4])
    memory_slots = torch.arange(3)
    raw = torch.cat([ctx.train_images(stream_idx), method.memory.store.gather(memory_slots)])
    labels = torch.cat([ctx.train_labels(stream_idx), method.memory.store.labels[memory_slots]])
    images = ctx.augmenter.eval(raw)
    batch = Batch(images=images, labels=labels, raw=raw, from_memory=torch.tensor([False] * 4 + [True] * 3),
                  indices=torch.cat([stream_idx, memory_slots]))
    with torch.no_grad():
        loss = method.training_loss(batch)
        logits = method.network(images)["logits"]
    allowed = torch.zeros(logits.shape[1], dtype=torch.bool)
    allowed[labels[:4]] = True
    highest = max(int(labels[:4].max()), max(first.new_classes))
    allowed[highest:] = True
    stream = F.cross_entropy(logits[:4].masked_fill(~allowed, torch.finfo(logits.dtype).min), labels[:4])
    assert torch.allclose(loss, stream + F.cross_entropy(logits[4:], labels[4:]), rtol=1e-5)


def test_er_ace_with_the_maer_buffer_learns(tmp_path):
    config = build_config(preset="demo", overrides=["method.name=er_ace", "memory.policy=maer", "memory.budget=100 images",
                                                    "train.epochs=3"], seed=1)
    results = run(config, out=tmp_path / "er_ace")
    assert results["accuracy_matrix"][-1][0] > 30
    assert len(results["method_results"]["maer_selection"]) == 5
