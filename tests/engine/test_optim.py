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


def _train_steps(optimizer_class: type, options: dict, steps: int = 7) -> tuple[list[torch.Tensor], dict]:
    """Parameters and optimiser state after `steps` steps of a small net on fixed random batches,
    a scheduler stepping the lr down, and a state_dict round trip halfway."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(6, 9), torch.nn.ReLU(), torch.nn.Linear(9, 3))
    optimizer = optimizer_class(net.parameters(), **options)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[2, 5], gamma=0.1)
    data = torch.Generator().manual_seed(1)
    for step in range(steps):
        images, labels = torch.randn(16, 6, generator=data), torch.randint(3, (16,), generator=data)
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(net(images), labels).backward()
        optimizer.step()
        scheduler.step()
        if step == steps // 2:
            optimizer.load_state_dict(optimizer.state_dict())
    return [p.detach().clone() for p in net.parameters()], optimizer.state_dict()


@pytest.mark.parametrize("eager, torch_class, options", [
    ("EagerSGD", torch.optim.SGD, {"lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4}),
    ("EagerSGD", torch.optim.SGD, {"lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4, "nesterov": True}),
    ("EagerSGD", torch.optim.SGD, {"lr": 0.05, "momentum": 0.5, "dampening": 0.1}),
    ("EagerSGD", torch.optim.SGD, {"lr": 0.05}),
    ("EagerAdam", torch.optim.Adam, {"lr": 0.001}),
    ("EagerAdam", torch.optim.Adam, {"lr": 0.01, "weight_decay": 1e-3, "amsgrad": True}),
])
def test_eager_optimisers_step_bit_for_bit_as_torch(eager, torch_class, options):
    """retain's optimisers skip torch.optim's dynamo decorators, not its arithmetic: parameters,
    momentum/moment buffers and step counts equal torch's exactly, through a scheduler and a
    state_dict round trip."""
    from retain.engine import optim

    ours, our_state = _train_steps(getattr(optim, eager), options)
    theirs, their_state = _train_steps(torch_class, options)
    assert all(torch.equal(a, b) for a, b in zip(ours, theirs))
    assert our_state["param_groups"] == their_state["param_groups"]
    assert our_state["state"].keys() == their_state["state"].keys()
    for key, state in our_state["state"].items():
        assert state.keys() == their_state["state"][key].keys()
        assert all(torch.equal(torch.as_tensor(value), torch.as_tensor(their_state["state"][key][name]))
                   for name, value in state.items())


def test_eager_optimiser_keeps_step_hooks_and_grad_mode():
    """Optimizer.__init__'s hook on step still runs once per step, and the step runs with grad off
    (as torch's decorator sets it: an in-place update of a leaf that requires grad would raise)
    and gives the caller's grad mode back."""
    from retain.engine.optim import EagerSGD

    param = torch.nn.Parameter(torch.ones(3))
    optimizer = EagerSGD([param], lr=0.5)
    calls = []
    optimizer.register_step_pre_hook(lambda opt, args, kwargs: calls.append("pre"))
    optimizer.register_step_post_hook(lambda opt, args, kwargs: calls.append("post"))
    param.grad = torch.ones(3)
    with torch.enable_grad():
        optimizer.step()
        assert torch.is_grad_enabled()
    assert calls == ["pre", "post"]
    assert torch.equal(param.detach(), torch.full((3,), 0.5))


def test_training_imports_no_torch_dynamo(tmp_path):
    """A demo run in a fresh process trains without importing torch._dynamo (about 2 s of CPU that
    torch.optim's decorators would spend at the first step)."""
    import json
    import subprocess
    import sys

    code = (
        "import json, sys\n"
        "from retain.cli import main\n"
        "try:\n"
        "    main(['run', '--preset', 'demo', '-q', '--set', 'train.epochs=1', '--set', 'method.name=icarl', '--out', sys.argv[1]])\n"
        "except SystemExit as exit:\n"
        "    assert not exit.code, exit.code\n"
        "print(json.dumps({'dynamo': 'torch._dynamo' in sys.modules}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "run")], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"dynamo": False}
    assert (tmp_path / "run" / "results.json").is_file()
