"""The training loop of one task: its phases, each a run of epochs with one optimiser.

An epoch's batches are drawn in engine/sampling.py and trained in engine/epoch.py; this module
strings phases and epochs together, checks the loss, steps the schedule and tells the hooks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import torch

from retain.engine.batch import Phase
from retain.engine.context import RunContext
from retain.engine.epoch import EpochRunner, TrainProgress, TrainStats
from retain.engine.optim import carry_state, phase_optimizer, restore_carried_state, step_scheduler
from retain.engine.protocol import TrainableMethod as Method  # the engine's view of a method
from retain.errors import RetainError
from retain.scenarios import TaskSpec

__all__ = ["TrainingDiverged", "TrainStats", "TrainProgress", "TrainPoint", "TrainResume", "train_task"]


class TrainingDiverged(RetainError):
    """The loss became NaN or infinite; the run stops and keeps its last good checkpoint."""


EpochCallback = Callable[[str, int, int, float, float], None]  # phase, epoch, epochs, loss, lr


@dataclass
class TrainPoint:
    """Where a task's training stands after an epoch: what a mid-task checkpoint saves."""

    phase: int                       # index into the task's training_phases
    epoch: int                       # epochs of that phase completed
    optimizer: torch.optim.Optimizer
    scheduler: Any
    stats: TrainStats


@dataclass
class TrainResume:
    """A mid-task checkpoint to continue from.

    The engine replays `training_phases` and `before_phase` up to `phase` (so structures and
    side effects are rebuilt), then calls `restore()` to put the method's state and every RNG
    back to the checkpoint's moment, and continues with epoch `epoch` of that phase.
    """

    phase: int
    epoch: int
    optimizer_state: dict[str, Any]
    scheduler_state: dict[str, Any]
    stats: TrainStats
    restore: Callable[[], None]


def train_task(
    method: Method,
    task: TaskSpec,
    ctx: RunContext,
    on_epoch: EpochCallback | None = None,
    after_epoch: Callable[[TrainPoint], None] | None = None,
    resume: TrainResume | None = None,
    progress: TrainProgress | None = None,
) -> TrainStats:
    """Run every training phase the method asks for on this task (from `resume` when given).

    `after_epoch` sees the position after every epoch (the checkpoint hook); `progress` is told
    when epochs start, about every step and the epoch's mean loss terms."""
    stats = resume.stats if resume is not None else TrainStats()
    progress = progress or TrainProgress()
    optimizer = scheduler = None
    for index, phase in enumerate(method.training_phases(task)):
        if phase.epochs == 0:
            continue
        method.before_phase(task, phase)
        first_epoch = 0
        if resume is not None:
            if index < resume.phase:
                continue  # done before the checkpoint; its effects come back with restore()
            resume.restore()
            optimizer, scheduler = _phase_optimizer(method, ctx, task, phase, saved=resume)
            first_epoch, resume = resume.epoch, None
        elif optimizer is None or phase.fresh_optimizer:
            optimizer, scheduler = _phase_optimizer(method, ctx, task, phase, carry=index == 0)
        runner = EpochRunner(method, phase, ctx, optimizer, stats, progress)
        for epoch in range(first_epoch, phase.epochs):
            mean_loss, lr = _run_epoch(runner, task, phase, epoch, scheduler, stats)
            if on_epoch is not None:
                on_epoch(phase.name, epoch + 1, phase.epochs, mean_loss, lr)
            if after_epoch is not None:
                after_epoch(TrainPoint(index, epoch + 1, optimizer, scheduler, stats))
    if optimizer is not None and not ctx.config.train.reset_optimizer:
        ctx.optimizer_carry = carry_state(optimizer, method.network)
    return stats


def _phase_optimizer(method: Method, ctx: RunContext, task: TaskSpec, phase: Phase, saved: TrainResume | None = None,
                     carry: bool = False) -> tuple[torch.optim.Optimizer, Any]:
    """The optimiser factory: a phase's optimiser and schedule, from a mid-task checkpoint's state
    (`saved`) or fresh; with train.reset_optimizer false the first phase (`carry`) takes the last
    task's optimiser state by parameter name."""
    train = ctx.config.train
    state = (saved.optimizer_state, saved.scheduler_state) if saved is not None else None
    optimizer, scheduler = phase_optimizer(method.trainable_parameters(), train, phase.epochs, task.index == 0,
                                           lr=phase.lr, saved=state)
    if saved is None and carry and not train.reset_optimizer and ctx.optimizer_carry:
        restore_carried_state(optimizer, method.network, ctx.optimizer_carry)
    return optimizer, scheduler


def _run_epoch(runner: EpochRunner, task: TaskSpec, phase: Phase, epoch: int, scheduler: Any,
               stats: TrainStats) -> tuple[float, float]:
    """The epoch runner's epoch, its loss checked, the schedule stepped; returns the mean loss and the lr it trained with."""
    started = time.perf_counter()
    mean_loss = runner.run(epoch)
    _check_finite(mean_loss, task, phase, epoch, runner.optimizer)
    lr = runner.optimizer.param_groups[0]["lr"]
    step_scheduler(scheduler, mean_loss)
    stats.epoch_losses.append(mean_loss)
    stats.seconds += time.perf_counter() - started
    return mean_loss, lr


def _check_finite(mean_loss: float, task: TaskSpec, phase: Phase, epoch: int, optimizer: torch.optim.Optimizer) -> None:
    """Stop the run on a NaN or infinite epoch loss (the last good checkpoint is kept)."""
    if mean_loss != mean_loss or mean_loss in (float("inf"), float("-inf")):
        raise TrainingDiverged(
            f"Training diverged: the mean loss of task {task.index + 1}, phase {phase.name!r}, "
            f"epoch {epoch + 1} is {mean_loss}. Lower train.lr (now {optimizer.param_groups[0]['lr']:g}) "
            "or check the data; the last good checkpoint is kept."
        )
