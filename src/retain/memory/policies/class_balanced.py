"""GDumb's greedy class-balanced insertion of a whole batch, with the per-sample semantics.

Per sample: while the memory has room the sample enters the next slot. Once it is full, a
sample of class y enters only if y holds fewer than ⌊K / |classes in memory ∪ {y}|⌋ slots;
it then replaces a uniformly random slot of the currently largest class (ties: the smallest
label). Samples that are refused change nothing, so between two entries the set of classes
that would be accepted is fixed: one NumPy scan finds the next entry, and Python work is
done per *entry* (a few per batch once the memory is balanced), never per sample.
"""

from __future__ import annotations

import numpy as np
import torch

from retain.memory.policies.reservoir import writes_in_batch_order


def class_balanced_slots(
    batch_labels: np.ndarray, store_labels: np.ndarray, capacity: int, uniforms: np.ndarray
) -> tuple[torch.Tensor, torch.Tensor]:
    """(batch positions, slots) of the final writes; `uniforms[i]` picks sample i's victim."""
    labels = np.asarray(batch_labels, dtype=np.int64)
    buffer = np.asarray(store_labels, dtype=np.int64)
    writes: dict[int, int] = {}  # slot -> last writer
    filled = max(0, min(capacity - buffer.size, labels.size))
    for offset in range(filled):
        writes[buffer.size + offset] = offset
    buffer = np.concatenate([buffer, labels[:filled]])
    if filled == labels.size or buffer.size == 0:
        return writes_in_batch_order(writes)
    counts = np.bincount(buffer, minlength=int(max(buffer.max(), labels.max())) + 1)
    present = counts > 0
    classes = int(present.sum())
    i = filled
    while i < labels.size:
        # Who enters now: a held class below its share, or a new class if its share is > 0.
        accepts = np.where(present, counts < capacity // classes, capacity // (classes + 1) > 0)
        following = np.flatnonzero(accepts[labels[i:]])
        if following.size == 0:
            break
        i += int(following[0])
        label = int(labels[i])
        largest = int(np.argmax(counts))  # ties: the smallest label
        candidates = np.flatnonzero(buffer == largest)
        slot = int(candidates[min(int(uniforms[i] * candidates.size), candidates.size - 1)])
        buffer[slot] = label
        # The largest class keeps at least one row: were it down to one, every class would
        # hold one row and no sample could pass its share.
        counts[largest] -= 1
        counts[label] += 1
        if not present[label]:
            present[label] = True
            classes += 1
        writes[slot] = i
        i += 1
    return writes_in_batch_order(writes)
