"""The rule for an epoch's last, incomplete batch (`train.drop_last`), shared by every training loop.

A batch of a few rows normalises each BatchNorm feature by the statistics of those few rows and,
in train mode, moves the running statistics toward them: two rows at the end of an epoch can
shift them by tens of standard deviations, and every later eval-mode forward (evaluation, EWC's
Fisher, Rainbow Memory's uncertainty) sees the shifted statistics. So:

* `drop_last: true` drops every incomplete batch (PyTorch's `drop_last=True`, Rainbow Memory's
  loaders); `auto` (the default) does so when the network has BatchNorm layers in train mode;
  `false` keeps them. An epoch with no complete batch keeps its one batch either way: dropping it
  would train nothing.
* An incomplete batch that is kept never updates BatchNorm running statistics: they are put back
  after its forward (its own batch statistics still normalise it, as in train mode).
* A batch with fewer rows than BatchNorm can normalise (one row per process) is skipped.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Literal

import torch
from torch import nn

DropLast = Literal["auto"] | bool


def batchnorm_layers(network: nn.Module, training_only: bool = True) -> list[nn.modules.batchnorm._BatchNorm]:
    """The BatchNorm layers that track running statistics (those in train mode, by default)."""
    return [
        m for m in network.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats and (m.training or not training_only)
    ]


def drops_incomplete(setting: DropLast, network: nn.Module) -> bool:
    """Whether an epoch's incomplete batches are dropped under `train.drop_last = setting`."""
    if setting == "auto":
        return bool(batchnorm_layers(network))
    return bool(setting)


def smallest_rows(network: nn.Module, processes: int = 1) -> int:
    """The fewest rows a batch needs: BatchNorm in train mode cannot normalise one row per process."""
    return (2 if batchnorm_layers(network) else 1) * processes


def chunks(order: torch.Tensor, batch_size: int, drop: bool) -> list[torch.Tensor]:
    """`order` cut into batches of `batch_size`, the incomplete last one dropped when `drop` and
    there is a complete one before it."""
    parts = list(order.split(batch_size))
    if drop and len(parts) > 1 and parts[-1].numel() < batch_size:
        parts.pop()
    return parts


@contextmanager
def batchnorm_statistics_frozen(network: nn.Module, frozen: bool = True) -> Iterator[None]:
    """Run a forward whose BatchNorm layers normalise by the batch but keep their running statistics.

    The update factor is set to 0 for the forward (running = 1·running + 0·batch, exactly the old
    values) rather than the buffers being copied back: the backward pass reads them, and an
    in-place copy would invalidate it. The step counter is put back afterwards."""
    layers = batchnorm_layers(network) if frozen else []
    saved = [(m.momentum, m.num_batches_tracked.clone() if m.num_batches_tracked is not None else None) for m in layers]
    for m in layers:
        m.momentum = 0.0
    try:
        yield
    finally:
        for m, (momentum, count) in zip(layers, saved):
            m.momentum = momentum
            if count is not None:
                with torch.no_grad():
                    m.num_batches_tracked.copy_(count)
