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
    accepted = np.flatnonzero(targets >= 0)
    return writes_in_batch_order(dict(zip(targets[accepted].tolist(), accepted.tolist())))


# Once the memory is full most batches write nothing: one shared, empty (read-only) answer.
_NO_WRITES = (torch.empty(0, dtype=torch.int64), torch.empty(0, dtype=torch.int64))


def writes_in_batch_order(last_writer: dict[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """A slot → last writer dict as (positions, slots) tensors, sorted by position."""
    if not last_writer:
        return _NO_WRITES
    writes = sorted(last_writer.items(), key=lambda slot_writer: slot_writer[1])
    positions = torch.tensor([writer for _, writer in writes], dtype=torch.int64)
    slots = torch.tensor([slot for slot, _ in writes], dtype=torch.int64)
    return positions, slots


def reservoir_slots(num_seen: int, uniforms: torch.Tensor, capacity: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Reservoir writes of a batch given its accept uniforms in [0, 1) (one per item).

    Plain Python over the batch's draws: a step offers a few dozen items, and once the memory
    is full most are discarded, so one list beats a dozen NumPy calls (the same arithmetic
    in float64: n < K writes slot n, else ⌊u·(n+1)⌋ capped at n, kept when < K)."""
    last_writer: dict[int, int] = {}  # slot -> the latest item writing it
    for i, u in enumerate(uniforms.tolist()):
        n = num_seen + i
        slot = n if n < capacity else min(int(u * (n + 1)), n)
        if slot < capacity:
            last_writer[slot] = i
    return writes_in_batch_order(last_writer)


def reservoir_assign(
    num_seen: int, batch_size: int, capacity: int, generator: torch.Generator | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Insert a batch as sequential reservoir sampling would (spec §0.4).

    Item i has n = num_seen + i predecessors: n < K writes slot n; otherwise r ~ U{0..n}
    overwrites slot r when r < K. Returns (batch_positions, slots) of the final writes.
    """
    # The same draws as row 0 of _uniforms(1, B): a CPU generator fills doubles in order.
    return reservoir_slots(num_seen, torch.rand(batch_size, generator=generator, dtype=torch.float64), capacity)


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
    if full_accepts.size:
        victims = uniforms[1].detach().cpu().numpy()
        # Class counts kept up to date per accept (argmax ties: the smallest label, as
        # MEM-CL's unique+argmax); only the victim's candidates need a pass over the buffer.
        counts = np.bincount(buffer[buffer >= 0], minlength=int(labels.max()) + 1)
        for i in full_accepts.tolist():
            largest = int(np.argmax(counts))
            candidates = np.flatnonzero(buffer == largest)
            slot = int(candidates[min(int(victims[i] * candidates.size), candidates.size - 1)])
            counts[largest] -= 1
            counts[labels[i]] += 1
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
