"""Reservoir and balanced reservoir insertion of a whole batch with sequential semantics."""

from __future__ import annotations

import numpy as np
import torch


def _uniforms(rows: int, batch_size: int, generator: torch.Generator | None) -> torch.Tensor:
    # One call per batch; row 0 is the accept draw of both reservoirs, so they agree on it.
    return torch.rand((rows, batch_size), generator=generator, dtype=torch.float64)


def _targets(num_seen: int, accept_uniforms: torch.Tensor, capacity: int) -> torch.Tensor:
    """Slot each item would write under sequential reservoir (−1 = discarded)."""
    n = num_seen + torch.arange(accept_uniforms.numel(), dtype=torch.int64)
    draws = torch.minimum((accept_uniforms * (n + 1).to(torch.float64)).floor().to(torch.int64), n)
    accepted = torch.where(draws < capacity, draws, torch.full_like(draws, -1))
    return torch.where(n < capacity, n, accepted)


def _final_writes(targets: torch.Tensor, capacity: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(batch positions, slots) of the writes that survive: a later write to a slot wins."""
    valid = targets >= 0
    positions = torch.nonzero(valid).flatten()
    last = torch.full((max(capacity, 1),), -1, dtype=torch.int64)
    last.scatter_reduce_(0, targets[valid], positions, reduce="amax")
    slots = torch.nonzero(last >= 0).flatten()
    winners = last[slots]
    order = torch.argsort(winners)
    return winners[order], slots[order]


def reservoir_slots(num_seen: int, uniforms: torch.Tensor, capacity: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Reservoir writes of a batch given its accept uniforms in [0, 1) (one per item)."""
    return _final_writes(_targets(num_seen, uniforms, capacity), capacity)


def reservoir_assign(
    num_seen: int, batch_size: int, capacity: int, generator: torch.Generator | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Insert a batch as sequential reservoir sampling would (spec §0.4).

    Item i has n = num_seen + i predecessors: n < K writes slot n; otherwise r ~ U{0..n}
    overwrites slot r when r < K. Returns (batch_positions, slots) of the final writes.
    """
    return reservoir_slots(num_seen, _uniforms(1, batch_size, generator)[0], capacity)


def balanced_reservoir_slots(
    num_seen: int, batch_labels: torch.Tensor, store_labels: torch.Tensor, capacity: int, uniforms: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Balanced reservoir writes given uniforms (2, B): row 0 accepts, row 1 picks the victim."""
    targets = _targets(num_seen, uniforms[0], capacity)
    labels = batch_labels.detach().cpu().numpy().astype(np.int64)
    buffer = np.full(capacity, -1, dtype=np.int64)
    held = store_labels.detach().cpu().numpy().astype(np.int64)
    buffer[: held.size] = held
    n = num_seen + np.arange(labels.size)
    filling = (n < capacity) & (targets.numpy() >= 0)
    buffer[n[filling]] = labels[filling]
    full_accepts = np.flatnonzero((n >= capacity) & (targets.numpy() >= 0))
    victims = uniforms[1].numpy()
    for i in full_accepts:
        counts = np.bincount(buffer[buffer >= 0])
        largest = int(np.argmax(counts))  # ties: the smallest label, as MEM-CL's unique+argmax
        candidates = np.flatnonzero(buffer == largest)
        slot = int(candidates[min(int(victims[i] * candidates.size), candidates.size - 1)])
        buffer[slot] = labels[i]
        targets[i] = slot
    return _final_writes(targets, capacity)


def balanced_reservoir_assign(
    num_seen: int,
    batch_labels: torch.Tensor,
    store_labels: torch.Tensor,
    capacity: int,
    generator: torch.Generator | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Balanced reservoir (spec §0.4): reservoir's accept test, but the victim is a uniformly
    random slot of the currently most frequent class. `store_labels` are the labels of the
    used slots 0..min(num_seen, K)-1. Returns (batch_positions, slots) of the final writes."""
    return balanced_reservoir_slots(
        num_seen, batch_labels, store_labels, capacity, _uniforms(2, batch_labels.numel(), generator)
    )
