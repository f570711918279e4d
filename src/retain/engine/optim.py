"""Optimisers and learning-rate schedules built from the training config."""

from __future__ import annotations

import functools
import inspect
import math
from typing import Any, Callable

import torch

from retain.config import TrainConfig


def warmup_cosine_restarts_factor(epoch: int, eta_min_ratio: float = 0.01) -> float:
    """Rainbow Memory's schedule as a factor of the base lr, per epoch.

    Epoch 0 is a warm-up at 0.1·lr; from epoch 1 on, SGDR with T_0 = 1, T_mult = 2 and
    η_min = 0.01·lr, stepped once per epoch (so cycles restart after 1, 2, 4, ... epochs).
    """
    if epoch == 0:
        return 0.1
    step = epoch - 1
    cycle = int(math.floor(math.log2(step + 1)))
    period = 2**cycle
    position = step - (period - 1)
    cosine = (1 + math.cos(math.pi * position / period)) / 2
    return eta_min_ratio + (1 - eta_min_ratio) * cosine


class EagerOptimizer:
    """Mixin for a torch.optim optimiser that runs without importing torch._dynamo.

    torch.optim wraps `step`, `zero_grad`, `add_param_group`, `state_dict` and `load_state_dict`
    in decorators that import torch._dynamo at their first call, only to mark graph breaks for
    torch.compile, which retain does not use; the import costs about 2 s of CPU in every process
    that trains, a third of a demo run's start-up (benchmarks/startup.py). These overrides call
    torch's own undecorated functions, so the arithmetic is torch's, bit for bit
    (tests/engine/test_optim.py), with the grad mode torch's step decorator sets.
    Put it first among the bases: `class EagerSGD(EagerOptimizer, torch.optim.SGD)`.
    """

    defaults: dict[str, Any]

    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        with torch.set_grad_enabled(self.defaults.get("differentiable", False)):
            return _undecorated(type(self), "step")(self, closure)

    def zero_grad(self, set_to_none: bool = True) -> None:
        _undecorated(type(self), "zero_grad")(self, set_to_none)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        _undecorated(type(self), "add_param_group")(self, param_group)

    def state_dict(self) -> dict[str, Any]:
        return _undecorated(type(self), "state_dict")(self)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        _undecorated(type(self), "load_state_dict")(self, state_dict)


@functools.cache
def _undecorated(cls: type, name: str) -> Callable[..., Any]:
    """The torch optimiser's own function `name` below EagerOptimizer in `cls`'s MRO, with every
    decorator (torch's dynamo wrappers, the profiler hook Optimizer.__init__ adds) peeled off."""
    mro = cls.__mro__
    for klass in mro[mro.index(EagerOptimizer) + 1:]:
        if name in vars(klass):
            return inspect.unwrap(vars(klass)[name])
    raise AttributeError(f"{cls.__name__} has no torch optimiser below EagerOptimizer defining {name}")


class EagerSGD(EagerOptimizer, torch.optim.SGD):
    """torch.optim.SGD without the torch._dynamo import (see EagerOptimizer)."""


class EagerAdam(EagerOptimizer, torch.optim.Adam):
    """torch.optim.Adam without the torch._dynamo import (see EagerOptimizer)."""


def build_optimizer(params: Any, train: TrainConfig, first_task: bool, lr: float | None = None) -> torch.optim.Optimizer:
    """SGD with the configured momentum, weight decay and Nesterov flag."""
    base_lr = lr if lr is not None else (train.first_lr if first_task and train.first_lr else train.lr)
    weight_decay = train.first_weight_decay if first_task and train.first_weight_decay is not None else train.weight_decay
    return EagerSGD(
        params,
        lr=base_lr,
        momentum=train.momentum,
        weight_decay=weight_decay,
        nesterov=train.nesterov,
    )


def carry_state(optimizer: torch.optim.Optimizer, network: torch.nn.Module) -> dict[str, dict[str, Any]]:
    """The optimiser's per-parameter state (momentum buffers, ...) by parameter name, detached."""
    names = {id(p): name for name, p in network.named_parameters()}
    return {
        names[id(p)]: {key: value.detach().clone() if isinstance(value, torch.Tensor) else value for key, value in state.items()}
        for p, state in optimizer.state.items() if id(p) in names and state
    }


def restore_carried_state(optimizer: torch.optim.Optimizer, network: torch.nn.Module, carry: dict[str, dict[str, Any]]) -> int:
    """Give every parameter the carried state saved under its name when its shape is unchanged
    (a grown head's new tensor starts fresh, as Avalanche's `update_optimizer` does). Returns
    how many parameters got their state back."""
    params = {id(p) for group in optimizer.param_groups for p in group["params"]}
    restored = 0
    for name, p in network.named_parameters():
        state = carry.get(name)
        if id(p) not in params or state is None:
            continue
        buffers = [v for v in state.values() if isinstance(v, torch.Tensor) and v.dim() > 0]
        if any(v.shape != p.shape for v in buffers):
            continue
        optimizer.state[p] = {k: v.to(p.device).clone() if isinstance(v, torch.Tensor) else v for k, v in state.items()}
        restored += 1
    return restored


def build_scheduler(optimizer: torch.optim.Optimizer, train: TrainConfig, epochs: int, first_task: bool):
    """A per-epoch scheduler for the configured schedule (stepped once after every epoch; `plateau`
    is stepped with the epoch's mean training loss, see `step_scheduler`)."""
    if train.schedule == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1.0)
    if train.schedule == "multistep":
        milestones = train.first_milestones if first_task and train.first_milestones is not None else train.milestones
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(milestones), gamma=train.gamma)
    if train.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(epochs, 1))
    if train.schedule == "plateau":
        patience = train.first_patience if first_task and train.first_patience is not None else train.patience
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=train.gamma, patience=patience)
    if train.schedule == "warmup-cosine-restarts":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine_restarts_factor)
    raise AssertionError(f"unhandled schedule {train.schedule}")


def phase_optimizer(
    parameters: Any, train: TrainConfig, epochs: int, first_task: bool, lr: float | None = None,
    saved: tuple[dict[str, Any], dict[str, Any]] | None = None,
) -> tuple[torch.optim.Optimizer, Any]:
    """The optimiser and per-epoch scheduler of a training phase of `epochs` epochs; `saved`
    (optimiser state, scheduler state) puts them back where a checkpoint left them."""
    optimizer = build_optimizer(parameters, train, first_task, lr=lr)
    scheduler = build_scheduler(optimizer, train, epochs, first_task)
    if saved is not None:
        optimizer.load_state_dict(saved[0])
        scheduler.load_state_dict(saved[1])
    return optimizer, scheduler


def step_scheduler(scheduler: Any, epoch_loss: float) -> None:
    """Step a per-epoch scheduler; ReduceLROnPlateau watches the epoch's mean training loss."""
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        scheduler.step(epoch_loss)
    else:
        scheduler.step()
