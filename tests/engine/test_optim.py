import pytest
import torch

from retain.engine.optim import build_optimizer, build_scheduler, warmup_cosine_restarts_factor
from retain.runs.config import TrainConfig


def test_warmup_cosine_restarts_matches_rainbow_memory_logs():
    # spec §10.3 item 5: base lr 0.05 gives these per-epoch rates for epochs 0-5.
    expected = [0.005, 0.05, 0.05, 0.02525, 0.05, 0.04275]
    got = [0.05 * warmup_cosine_restarts_factor(e) for e in range(6)]
    assert got == pytest.approx(expected, abs=2e-5)


def _lrs(train: TrainConfig, epochs: int, first_task: bool = False) -> list[float]:
    params = [torch.nn.Parameter(torch.zeros(1))]
    opt = build_optimizer(params, train, first_task)
    sched = build_scheduler(opt, train, epochs, first_task)
    lrs = []
    for _ in range(epochs):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


def test_multistep_uses_first_task_milestones_and_lr():
    train = TrainConfig(lr=0.1, first_lr=0.2, schedule="multistep", milestones=[2], first_milestones=[1], gamma=0.1)
    assert _lrs(train, 3, first_task=True) == pytest.approx([0.2, 0.02, 0.02])
    assert _lrs(train, 3, first_task=False) == pytest.approx([0.1, 0.1, 0.01])


def test_optimizer_settings_follow_config():
    train = TrainConfig(momentum=0.9, nesterov=True, weight_decay=1e-4, first_weight_decay=5e-4)
    params = [torch.nn.Parameter(torch.zeros(1))]
    first = build_optimizer(params, train, first_task=True)
    later = build_optimizer(params, train, first_task=False)
    assert first.param_groups[0]["weight_decay"] == 5e-4
    assert later.param_groups[0]["weight_decay"] == 1e-4
    assert later.param_groups[0]["nesterov"] is True


def test_cosine_reaches_zero_at_the_end():
    lrs = _lrs(TrainConfig(lr=0.1, schedule="cosine"), 4)
    assert lrs[0] == pytest.approx(0.1)
    assert lrs == sorted(lrs, reverse=True)


def _plateau_lrs(train: TrainConfig, losses: list[float], first_task: bool) -> list[float]:
    from retain.engine.optim import step_scheduler

    params = [torch.nn.Parameter(torch.zeros(1))]
    opt = build_optimizer(params, train, first_task)
    sched = build_scheduler(opt, train, len(losses), first_task)
    lrs = []
    for loss in losses:
        opt.step()
        step_scheduler(sched, loss)
        lrs.append(opt.param_groups[0]["lr"])
    return lrs


def test_plateau_follows_il2m_patience_10_then_5_and_factor_0_1():
    # Issue 17, item 3 (spec §4.3): ReduceLROnPlateau(factor 0.1) on the training loss, patience 10
    # in the first state and 5 afterwards. A flat loss: the first epoch sets the best, the lr drops
    # once more than `patience` epochs have not improved on it.
    train = TrainConfig(lr=0.1, schedule="plateau", gamma=0.1, first_patience=10, patience=5)
    first = _plateau_lrs(train, [1.0] * 13, first_task=True)
    assert first[:11] == pytest.approx([0.1] * 11) and first[11] == pytest.approx(0.01)
    later = _plateau_lrs(train, [1.0] * 7, first_task=False)
    assert later[:6] == pytest.approx([0.1] * 6) and later[6] == pytest.approx(0.01)
    # A falling loss never lowers the lr.
    assert _plateau_lrs(train, [1.0 - 0.01 * i for i in range(20)], first_task=False) == pytest.approx([0.1] * 20)
