"""One epoch of one training phase: batches drawn, gathered, the method's loss, the optimiser steps."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from retain.engine import observers, sampling
from retain.engine.batch import Batch, Phase
from retain.engine.context import RunContext
from retain.engine.protocol import TrainableMethod as Method  # the engine's view of a method
from retain.engine.short_batches import batchnorm_statistics_frozen, drops_incomplete, smallest_rows
from retain.errors import MethodError


@dataclass
class TrainStats:
    """What one task's training cost and logged."""

    seconds: float = 0.0
    images: int = 0
    steps: int = 0
    epoch_losses: list[float] = field(default_factory=list)

    @property
    def images_per_second(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else 0.0


class TrainProgress:
    """What the trainer tells a progress display or a logger besides `on_epoch` (all no-ops here).

    `step()` runs on the host once per step and must not read device data; the loss terms a
    method returns are averaged on the device and read once per epoch, with the mean loss."""

    def epoch_started(self, phase: str, epoch: int, epochs: int, steps: int | None) -> None:
        """Epoch `epoch` (from 1) of `epochs` of `phase` begins; `steps` is its number of steps when known."""

    def step(self) -> None:
        """One training step done."""

    def loss_terms(self, terms: dict[str, float]) -> None:
        """The epoch's mean of each named loss term `training_loss` returned (before `on_epoch`)."""


class EpochRunner:
    """Runs the epochs of one phase with one optimiser; `run` returns the epoch's mean loss.

    It counts steps and images into `stats` (a TrainStats) and tells `progress` about them."""

    def __init__(self, method: Method, phase: Phase, ctx: RunContext, optimizer: torch.optim.Optimizer,
                 stats: TrainStats, progress: TrainProgress) -> None:
        self.method, self.phase, self.ctx, self.optimizer = method, phase, ctx, optimizer
        self.stats, self.progress = stats, progress
        train = ctx.config.train
        self.batch_size = phase.batch_size or train.batch_size
        self.accumulate = train.grad_accumulation
        # mean: each micro-batch's loss / N; sum: unscaled (IL2M's official code sums its 8 gradients)
        self.loss_scale = train.grad_accumulation if train.accumulate_reduction == "mean" else 1
        self.group = ctx.dist
        method.network.train()
        # The epoch's last, incomplete batch: dropped or kept by train.drop_last; a kept one never
        # moves BatchNorm's running statistics; one too small for BatchNorm is skipped.
        self.drop = drops_incomplete(train.drop_last, method.network)
        self.smallest = smallest_rows(method.network, self.group.world_size if self.group is not None else 1)
        self.parameters = [p for g in optimizer.param_groups for p in g["params"]] if self.group is not None else []

    def optimizer_step(self) -> None:
        """Sum the gradients over ranks (distributed), step, clear the gradients."""
        if self.group is not None:
            self.group.reduce_gradients(self.parameters)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

    def run(self, epoch: int) -> float:
        """Train one epoch (0-based `epoch`); the mean loss over its batches, read once."""
        method, phase, ctx = self.method, self.phase, self.ctx
        loss_sum = torch.zeros((), device=ctx.device)
        term_sums: dict[str, torch.Tensor] = {}
        batches = 0
        self.optimizer.zero_grad(set_to_none=True)
        steps = sampling.steps_per_epoch(method, phase, self.batch_size, self.drop)
        self.progress.epoch_started(phase.name, epoch + 1, phase.epochs, steps)
        for stream_idx, memory_slots, complete in sampling.epoch_batches(ctx, method, phase, self.batch_size, self.drop):
            if stream_idx.numel() + memory_slots.numel() < self.smallest:
                continue
            batch = sampling.gather(ctx, method, stream_idx, memory_slots)
            loss = self.backward(batch, complete, term_sums)
            batches += 1
            if batches % self.accumulate == 0:
                self.optimizer_step()
            loss_sum.add_(loss.detach())  # float32 sum whatever the loss dtype
            self.stats.images += batch.labels.numel()
            self.stats.steps += 1
            method.after_step(batch)  # after the optimiser step: insertion sees the updated model
            self.progress.step()
        if batches % self.accumulate:
            self.optimizer_step()
        if self.group is not None:  # every rank sees the same loss (and stops together if it diverged)
            loss_sum = self.group.sum_scalar(loss_sum)
            self.group.broadcast_buffers(method.network)  # BatchNorm statistics of rank 0's shards
        return self.mean_loss(loss_sum, term_sums, batches)

    def backward(self, batch: Batch, complete: bool, term_sums: dict[str, torch.Tensor]) -> torch.Tensor:
        """The method's loss on one batch, backpropagated; its named terms summed on the device."""
        batch.step = self.stats.steps
        # Distributed: the loss sees this rank's shard, weighted by its share of the rows, and
        # the gradients are summed over ranks before the step (engine/collectives.py).
        local = batch if self.group is None else self.group.shard(batch)
        observers.step()
        with self.ctx.autocast(), batchnorm_statistics_frozen(self.method.network, frozen=not complete):
            result = self.method.training_loss(local)
        loss = result[0] if isinstance(result, tuple) else result
        check_loss(self.method, loss)
        if self.group is not None:
            loss = loss * (local.labels.numel() / batch.labels.numel())
        if isinstance(result, tuple) and len(result) > 1:
            for name, value in result[1].items():  # summed on the device, read once per epoch
                total = term_sums.setdefault(name, torch.zeros((), device=self.ctx.device))
                total.add_(value.detach().float() if isinstance(value, torch.Tensor) else float(value))
        (loss / self.loss_scale if self.loss_scale > 1 else loss).backward()
        return loss

    def mean_loss(self, loss_sum: torch.Tensor, term_sums: dict[str, torch.Tensor], batches: int) -> float:
        """The epoch's mean loss (and terms, told to `progress`), in one host read."""
        if not term_sums:
            return (loss_sum / max(batches, 1)).item()  # one host sync per epoch
        means = (torch.stack([loss_sum, *term_sums.values()]) / max(batches, 1)).tolist()  # one host sync per epoch
        self.progress.loss_terms(dict(zip(term_sums, means[1:])))
        return means[0]


def check_loss(method: Method, loss: object) -> None:
    """`training_loss` returns one scalar tensor that backpropagates to the network (or a tuple
    starting with one); anything else stops the run naming the method and what it returned.
    Reads only the tensor's metadata: no host sync."""
    if isinstance(loss, torch.Tensor) and loss.dim() == 0 and loss.requires_grad:
        return
    if isinstance(loss, torch.Tensor):
        got = (f"a tensor of shape {tuple(loss.shape)} (one value per sample? reduce it, e.g. .mean())" if loss.dim()
               else "a 0-dim tensor that does not require grad (detached, or computed under no_grad)")
    else:
        got = f"a {type(loss).__name__} ({loss!r:.60})"
    raise MethodError(
        f"Method {method.name!r} ({type(method).__module__}.{type(method).__qualname__}.training_loss) returned {got}; "
        "training_loss must return a 0-dim tensor with grad (the batch's loss, e.g. cross_entropy(..., "
        "reduction='mean')), or a tuple (loss, {name: term}). Fix the method's training_loss."
    )
