"""GDumb's class-balanced insertion: the batch-at-once version against the per-sample greedy."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from retain.memory.policies import build_policy
from retain.memory.policies.class_balanced import class_balanced_slots


def greedy_per_sample(labels, store_labels, capacity, uniforms):
    """The greedy sampler written sample by sample (the implementation before vectorisation)."""
    buffer = list(store_labels)
    writes: dict[int, int] = {}
    for i, label in enumerate(labels):
        if len(buffer) < capacity:
            slot = len(buffer)
            buffer.append(label)
        else:
            held = np.asarray(buffer)
            classes, counts = np.unique(held, return_counts=True)
            share = capacity // (classes.size + int(label not in classes))
            if int(counts[classes == label].sum()) >= share:
                continue
            candidates = np.flatnonzero(held == classes[int(np.argmax(counts))])
            slot = int(candidates[min(int(uniforms[i] * candidates.size), candidates.size - 1)])
            buffer[slot] = label
        writes[slot] = i
    slots = sorted(writes, key=writes.get)
    return [writes[s] for s in slots], slots


def check_same(labels, store, capacity, seed):
    uniforms = np.random.default_rng(seed).random(len(labels))
    positions, slots = class_balanced_slots(np.array(labels, dtype=np.int64), np.array(store, dtype=np.int64), capacity, uniforms)
    assert (positions.tolist(), slots.tolist()) == greedy_per_sample(labels, store, capacity, uniforms)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    capacity=st.integers(1, 40),
    store=st.lists(st.integers(0, 6), max_size=40),
    labels=st.lists(st.integers(0, 8), max_size=120),
    seed=st.integers(0, 2**31),
)
def test_equals_the_per_sample_greedy(capacity, store, labels, seed):
    # Stores longer than the capacity happen after JPEG evictions shrink the row capacity.
    check_same(labels, store, capacity, seed)


def test_equals_the_per_sample_greedy_on_class_incremental_streams():
    # Tasks of 2 new classes each, as GDumb's stream is offered: fill, then rebalance.
    rng = np.random.default_rng(0)
    store: list[int] = []
    for task in range(5):
        labels = rng.permutation(np.repeat([2 * task, 2 * task + 1], 300)).tolist()
        uniforms = rng.random(len(labels))
        expected = greedy_per_sample(labels, store, 100, uniforms)
        positions, slots = class_balanced_slots(np.array(labels), np.array(store, dtype=np.int64), 100, uniforms)
        assert (positions.tolist(), slots.tolist()) == expected
        buffer = store + [-1] * (100 - len(store))
        for p, s in zip(positions.tolist(), slots.tolist()):
            buffer[s] = labels[p]
        store = buffer
    counts = np.bincount(store)
    assert counts.max() - counts.min() <= 1 and sum(counts) == 100  # balanced over the 10 classes


def test_policy_draws_one_uniform_per_sample_from_the_generator():
    policy = build_policy("class_balanced")
    labels = torch.tensor([0, 1, 2, 2, 2, 1, 0, 3])
    g = torch.Generator().manual_seed(3)
    positions, slots = policy.assign(0, labels, torch.tensor([0, 0, 0, 1]), 6, g)
    uniforms = torch.rand(8, generator=torch.Generator().manual_seed(3), dtype=torch.float64).numpy()
    assert (positions.tolist(), slots.tolist()) == greedy_per_sample(labels.tolist(), [0, 0, 0, 1], 6, uniforms)
    reference = torch.Generator().manual_seed(3)
    torch.rand(8, generator=reference, dtype=torch.float64)
    assert torch.equal(g.get_state(), reference.get_state())  # exactly one draw per sample
