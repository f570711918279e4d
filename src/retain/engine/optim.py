"""Optimisers and learning-rate schedules built from the training config."""

from __future__ import annotations

import math
from typing import Any

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


def build_optimizer(params: Any, train: TrainConfig, first_task: bool, lr: float | None = None) -> torch.optim.Optimizer:
    """SGD with the configured momentum, weight decay and Nesterov flag."""
    base_lr = lr if lr is not None else (train.first_lr if first_task and train.first_lr else train.lr)
    weight_decay = train.first_weight_decay if first_task and train.first_weight_decay is not None else train.weight_decay
    return torch.optim.SGD(
        params,
        lr=base_lr,
        momentum=train.momentum,
        weight_decay=weight_decay,
        nesterov=train.nesterov,
    )


def build_scheduler(optimizer: torch.optim.Optimizer, train: TrainConfig, epochs: int, first_task: bool):
    """A per-epoch scheduler for the configured schedule (stepped once after every epoch)."""
    if train.schedule == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1.0)
    if train.schedule == "multistep":
        milestones = train.first_milestones if first_task and train.first_milestones is not None else train.milestones
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(milestones), gamma=train.gamma)
    if train.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(epochs, 1))
    if train.schedule == "warmup-cosine-restarts":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine_restarts_factor)
    raise AssertionError(f"unhandled schedule {train.schedule}")
