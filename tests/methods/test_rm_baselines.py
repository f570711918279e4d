"""EWC and joint pinned to the reference rules (issue 13, item 3).

EWC follows Rainbow Memory's `methods/regularization.py`: the importance is computed at the end
of every training call and restarted from zero, the single-slot mode (slot 1 replaced) belongs to
the online stream only, and the Fisher's loss includes the current penalty. Joint trains once on
all the data (RM `main.py` returns after joint's first task; mammoth's joint).
"""

import torch
import torch.nn.functional as F

from retain.runs.config import build_config
from retain.runs.loop import build_setup, run

BLURRY = ["scenario.kind=blurry", "scenario.num_tasks=5", "memory.budget=100 images", "train.epochs=1"]


def _ewc(stream: str):
    return build_setup(build_config(preset="demo", overrides=["method.name=ewc", *BLURRY, f"scenario.stream={stream}"], seed=1))


def _count_consolidations(setup, tasks: int) -> tuple[list[int], list[int]]:
    from retain.engine.trainer import train_task

    method, calls, slots = setup.method, [], []
    original = method.consolidate

    def counting(rows):
        calls.append(rows.shape[0])
        original(rows)

    method.consolidate = counting
    for task in setup.plan.tasks[:tasks]:
        method.before_task(task)
        train_task(method, task, setup.ctx)
        method.after_task(task)
        slots.append(len(method.penalty.slots))
    return calls, slots


def test_ewc_online_consolidates_after_each_call_into_one_slot():
    setup = _ewc("online")
    calls, slots = _count_consolidations(setup, tasks=2)
    stream_rows = [len(t.train_indices) for t in setup.plan.tasks[:2]]
    # Task 1: stream (memory empty), then the updated memory; task 2: stream ∪ memory, then memory.
    assert calls[0] == stream_rows[0] and calls[1] <= 100
    assert calls[2] == stream_rows[1] + calls[1] and calls[3] <= 100
    assert slots == [1, 1]


def test_ewc_offline_adds_a_slot_per_task():
    calls, slots = _count_consolidations(_ewc("offline"), tasks=3)
    assert len(calls) == 3 and slots == [1, 2, 3]


def test_ewc_importance_restarts_and_its_loss_includes_the_penalty():
    setup = _ewc("online")
    method = setup.method
    method.before_task(setup.plan.tasks[0])
    rows = setup.dataset.train.images[:48]
    method.consolidate(rows)
    first = {n: f.clone() for n, f in method.penalty.slots[0]["importance"].items()}
    with torch.no_grad():  # move away from the anchor so that the penalty has a gradient
        for p in method.params_to_regularize.values():
            p.add_(0.05 * torch.randn(p.shape, generator=torch.Generator().manual_seed(3)))
    fisher = method.importance(rows)
    # By hand: squared gradients of CE(argmax) + λ·penalty, batch-weighted, from zero.
    net, params = method.network.eval(), method.params_to_regularize
    expected = {n: torch.zeros_like(p) for n, p in params.items()}
    plain = {n: torch.zeros_like(p) for n, p in params.items()}
    for part in rows.split(setup.config.train.batch_size):
        logits = net(setup.ctx.augmenter.eval(part))["logits"]
        ce = F.cross_entropy(logits, logits.argmax(1))
        with_penalty = torch.autograd.grad(ce + method.params.reg_coef * method.penalty(params), list(params.values()), retain_graph=True)
        without = torch.autograd.grad(ce, list(params.values()))
        for (n, _), g, h in zip(params.items(), with_penalty, without):
            expected[n] += g.pow(2) * part.shape[0] / rows.shape[0]
            plain[n] += h.pow(2) * part.shape[0] / rows.shape[0]
    assert all(torch.allclose(fisher[n], expected[n], rtol=1e-4, atol=1e-9) for n in fisher)
    assert any(not torch.allclose(fisher[n], plain[n]) for n in fisher)
    method.consolidate(rows)
    # Replaced, not accumulated: the slot holds the new importance alone.
    importance = method.penalty.slots[0]["importance"]
    assert len(method.penalty.slots) == 1
    assert all(not torch.allclose(importance[n], first[n] + fisher[n]) for n in importance if fisher[n].abs().sum() > 0)


def test_joint_trains_once_on_all_data(tmp_path):
    result = run(build_config(preset="demo", overrides=["method.name=joint", "train.epochs=5"], seed=1), out=tmp_path / "joint")
    images = [t["train_images"] for t in result["timings"]["tasks"]]
    setup = build_setup(build_config(preset="demo", overrides=["method.name=joint"], seed=1))
    assert images[0] == 5 * setup.dataset.train.labels.numel() and images[1:] == [0, 0, 0, 0]
    assert result["metrics"]["last_accuracy"] > 85  # digits, all 10 classes at once
    # Each row scores the classes seen so far with the one model (fewer rivals early on).
    assert result["stage_accuracy"][0] >= result["stage_accuracy"][-1]


def test_joint_cumulative_is_the_named_old_behaviour():
    setup = build_setup(build_config(preset="demo", overrides=["method.name=joint", "method.training=cumulative"], seed=1))
    method = setup.method
    sizes = []
    for task in setup.plan.tasks[:3]:
        method.before_task(task)
        sizes.append(method.training_phases(task)[0].stream.numel())
    per_task = [len(t.train_indices) for t in setup.plan.tasks[:3]]
    assert sizes == [per_task[0], sum(per_task[:2]), sum(per_task)]
    assert method.network.head.num_classes == 6
