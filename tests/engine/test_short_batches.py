"""An epoch's last, incomplete batch (train.drop_last): dropped where BatchNorm would learn from it,
and never moving BatchNorm's running statistics when kept."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest
import torch

from retain.engine.short_batches import batchnorm_statistics_frozen, chunks, drops_incomplete
from retain.engine.sampling import epoch_batches as _batches
from retain.engine.trainer import train_task
from retain.runs.config import build_config
from retain.runs.loop import build_setup
from retain.methods.base import Phase
from retain.methods.ewc import EWC
from retain.models.mlp import MLP

BATCH = 16


def test_chunks_drop_only_an_incomplete_last_batch_after_a_complete_one():
    order = torch.arange(34)
    assert [c.numel() for c in chunks(order, 16, drop=True)] == [16, 16]
    assert [c.numel() for c in chunks(order, 16, drop=False)] == [16, 16, 2]
    assert [c.numel() for c in chunks(torch.arange(32), 16, drop=True)] == [16, 16]
    # An epoch without a complete batch keeps its one batch: dropping it would train nothing.
    assert [c.numel() for c in chunks(torch.arange(5), 16, drop=True)] == [5]


def test_auto_drops_with_batchnorm_only():
    assert drops_incomplete("auto", MLP(4, (3,), batchnorm=True))
    assert not drops_incomplete("auto", MLP(4, (3,), batchnorm=False))
    assert drops_incomplete(True, MLP(4, (3,))) and not drops_incomplete(False, MLP(4, (3,), batchnorm=True))
    # BatchNorm layers a method keeps in eval mode (frozen branches) learn nothing from a batch.
    assert not drops_incomplete("auto", MLP(4, (3,), batchnorm=True).eval())


@pytest.mark.parametrize("memory", ["concat", "batch"])
def test_both_batch_layouts_drop_the_incomplete_batch(memory):
    # concat: the stream ∪ memory pool (iCaRL, RM's finetune, memory-only epochs);
    # batch: a stream chunk plus a memory minibatch per step (ER, RM's stream pass).
    method = SimpleNamespace(memory=SimpleNamespace(store=_Sized(6)))
    data = SimpleNamespace(train=SimpleNamespace(images=torch.empty(0, dtype=torch.uint8)))
    ctx = SimpleNamespace(generator=torch.Generator().manual_seed(0), dataset=data, feed=SimpleNamespace(plan=lambda batches: None))
    phase = Phase(stream=torch.arange(28), epochs=1, memory=memory, memory_batch_size=4)
    kept = list(_batches(ctx, method, phase, 8, drop=False))
    dropped = list(_batches(ctx, method, phase, 8, drop=True))
    assert [complete for *_, complete in kept][-1] is False
    assert len(dropped) == len(kept) - 1 and all(complete for *_, complete in dropped)


class _Sized:
    def __init__(self, size: int) -> None:
        self.size = size

    def __len__(self) -> int:
        return self.size


def test_frozen_statistics_still_train_and_backpropagate():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with batchnorm_statistics_frozen(net):
        net(torch.randn(2, 3)).pow(2).sum().backward()
    after = net.state_dict()
    for key in ("1.running_mean", "1.running_var", "1.num_batches_tracked"):
        assert torch.equal(after[key], before[key]), key
    assert net[0].weight.grad is not None and net[1].momentum == 0.1


def _bn_setup(drop_last):
    config = build_config(preset="demo", overrides=[
        "method.name=finetune", "model.options.batchnorm=true", f"train.batch_size={BATCH}", "train.epochs=1",
        f"train.drop_last={str(drop_last).lower()}", "train.threads=1",
    ])
    return build_setup(config)


def _bn_state(network: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in network.state_dict().items() if "running" in k or "num_batches" in k}


@pytest.mark.parametrize("drop_last", ["auto", False])
def test_a_two_row_last_batch_leaves_batchnorm_statistics_as_without_it(drop_last):
    setup = _bn_setup(drop_last)
    method, ctx = setup.method, setup.ctx
    task = setup.plan.tasks[0]
    task = dataclasses.replace(task, train_indices=task.train_indices[: 2 * BATCH + 2])  # last batch: 2 rows
    method.before_task(task)
    snapshots = []
    original = method.after_step
    method.after_step = lambda batch: (snapshots.append((batch.labels.numel(), _bn_state(method.network))), original(batch))
    stats = train_task(method, task, ctx)
    sizes = [rows for rows, _ in snapshots]
    final = _bn_state(method.network)
    if drop_last == "auto":  # BatchNorm: the 2-row batch is dropped
        assert sizes == [BATCH, BATCH] and stats.steps == 2
    else:  # kept and trained on, without moving the running statistics
        assert sizes == [BATCH, BATCH, 2]
    after_complete = snapshots[1][1]
    for key, value in final.items():
        assert torch.equal(value, after_complete[key]), key


def test_ewc_with_a_two_row_memory_batch_does_not_diverge():
    # Digits, Blurry10-Online, batch 14: the memory-only epochs over 100 exemplars end in a 2-row
    # batch. Before train.drop_last, that batch moved BatchNorm's running statistics,
    # EWC's eval-mode Fisher reached 57.5 (0.0013 without it) and the loss diverged in task 4.
    largest = []
    importance = EWC.importance

    def recording(self, rows):
        fisher = importance(self, rows)
        largest.append(max(float(v.max()) for v in fisher.values()))
        return fisher

    config = build_config(preset="demo", overrides=[
        "method.name=ewc", "scenario.kind=blurry", "scenario.blurry=10", "scenario.num_tasks=5",
        "scenario.order=natural", "scenario.stream=online", "model.options.hidden=[400, 400]",
        "model.options.batchnorm=true", "train.epochs=3", "train.batch_size=14", "train.lr=0.05",
        "train.nesterov=true", "train.weight_decay=0.0001", "train.schedule=warmup-cosine-restarts",
        "train.threads=1", "seed=1",
    ])
    setup = build_setup(config)
    EWC.importance = recording
    try:
        for task in setup.plan.tasks:
            setup.method.before_task(task)
            train_task(setup.method, task, setup.ctx)
            setup.method.after_task(task)
    finally:
        EWC.importance = importance
    assert len(largest) == 10 and max(largest) < 0.05, largest
