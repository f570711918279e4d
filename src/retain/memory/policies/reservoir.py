"""Reservoir and balanced reservoir insertion of a whole batch with sequential semantics."""

from __future__ import annotations

import numpy as np
import torch


def _uniforms(rows: int, batch_size: int, generator: torch.Generator | None) -> torch.Tensor:
    # One call per batch; row 0 is the accept draw of both reservoirs, so they agree on it.
    return torch.rand((rows, batch_size), generator=generator, dtype=torch.float64)


def _targets(num_seen: int, accept_uniforms: torch.Tensor, capacity: int) -> np.ndarray:
    """Slot each item would write under sequential reservoir (−1 = discarded).

    NumPy on the host: these are a few dozen numbers per batch, where torch's per-op
    overhead would dominate.
    """
    u = accept_uniforms.detach().cpu().numpy()
    n = num_seen + np.arange(u.size, dtype=np.int64)
    draws = np.minimum(np.floor(u * (n + 1)).astype(np.int64), n)
    return np.where(n < capacity, n, np.where(draws < capacity, draws, -1))


def _final_writes(targets: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """(batch positions, slots) of the writes that survive: a later write to a slot wins."""
    positions = np.flatnonzero(targets >= 0)[::-1]  # latest first, so unique() keeps the latest
    slots, first = np.unique(targets[positions], return_index=True)
    winners = positions[first]
    order = np.argsort(winners)
    return torch.from_numpy(winners[order].copy()), torch.from_numpy(slots[order].copy())


def reservoir_slots(num_seen: int, uniforms: torch.Tensor, capacity: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Reservoir writes of a batch given its accept uniforms in [0, 1) (one per item)."""
    return _final_writes(_targets(num_seen, uniforms, capacity))


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
    filling = (n < capacity) & (targets >= 0)
    buffer[n[filling]] = labels[filling]
    full_accepts = np.flatnonzero((n >= capacity) & (targets >= 0))
    victims = uniforms[1].detach().cpu().numpy()
    for i in full_accepts:
        counts = np.bincount(buffer[buffer >= 0])
        largest = int(np.argmax(counts))  # ties: the smallest label, as MEM-CL's unique+argmax
        candidates = np.flatnonzero(buffer == largest)
        slot = int(candidates[min(int(victims[i] * candidates.size), candidates.size - 1)])
        buffer[slot] = labels[i]
        targets[i] = slot
    return _final_writes(targets)


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
