import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from retain.memory.policies import (
    balanced_reservoir_assign,
    balanced_reservoir_slots,
    reservoir_assign,
    reservoir_slots,
)


def sequential_reservoir(num_seen, uniforms, capacity, buffer):
    """Item-by-item reservoir (spec §0.4) driven by the given uniforms; returns the buffer."""
    buffer = list(buffer)
    for i, u in enumerate(uniforms.tolist()):
        n = num_seen + i
        if n < capacity:
            buffer.append(("new", i))
        else:
            r = min(int(u * (n + 1)), n)
            if r < capacity:
                buffer[r] = ("new", i)
    return buffer


def apply_writes(buffer, positions, slots):
    buffer = list(buffer) + [None] * (int(slots.max()) + 1 - len(buffer) if slots.numel() else 0)
    for p, s in zip(positions.tolist(), slots.tolist()):
        buffer[s] = ("new", p)
    return buffer


def test_batch_equals_sequential_insertion_for_the_same_draws():
    g = torch.Generator().manual_seed(0)
    for num_seen, batch, capacity in [(0, 7, 10), (5, 12, 10), (10, 40, 10), (300, 64, 20), (3, 200, 5)]:
        start = [("old", i) for i in range(min(num_seen, capacity))]
        uniforms = torch.rand(batch, generator=g, dtype=torch.float64)
        positions, slots = reservoir_slots(num_seen, uniforms, capacity)
        assert torch.unique(slots).numel() == slots.numel()
        assert apply_writes(start, positions, slots) == sequential_reservoir(num_seen, uniforms, capacity, start)


def test_first_k_samples_fill_slots_in_arrival_order():
    positions, slots = reservoir_assign(0, 10, 10, torch.Generator().manual_seed(1))
    assert positions.tolist() == list(range(10)) and slots.tolist() == list(range(10))


def test_each_sample_kept_with_probability_k_over_n():
    # spec §10.0 item 3: K = 10, n = 100, 20 000 seeded trials, frequency within 0.10 ± 0.01
    g = torch.Generator().manual_seed(1234)
    kept = np.zeros(100)
    for _ in range(20_000):
        buffer = np.full(10, -1)
        positions, slots = reservoir_assign(0, 100, 10, g)  # batch boundaries: tested above
        buffer[slots.numpy()] = positions.numpy()
        kept[buffer] += 1
    frequency = kept / 20_000
    assert np.all(np.abs(frequency - 0.1) < 0.01), frequency


def test_balanced_accepts_exactly_when_reservoir_does():
    # One item per batch, so a write happens exactly when the item is accepted.
    g = torch.Generator().manual_seed(5)
    store = torch.tensor([0, 0, 0, 0, 0, 1, 1, 2])
    decisions = []
    for num_seen in range(8, 400):
        uniforms = torch.rand((2, 1), generator=g, dtype=torch.float64)
        plain, plain_slots = reservoir_slots(num_seen, uniforms[0], 8)
        balanced, _ = balanced_reservoir_slots(num_seen, torch.tensor([2]), store, 8, uniforms)
        assert plain.numel() == balanced.numel()
        decisions.append(plain.numel())
    assert 0 < sum(decisions) < len(decisions)  # both outcomes occurred


def test_balanced_victim_holds_the_most_frequent_class():
    # spec §10.0 item 4: class 0 is strictly most frequent, so every single accept evicts a 0.
    store = torch.tensor([0, 1, 0, 2, 0, 0, 1, 0])
    g = torch.Generator().manual_seed(7)
    hits = 0
    for trial in range(300):
        positions, slots = balanced_reservoir_assign(8, torch.tensor([5]), store, 8, g)
        if slots.numel():
            hits += 1
            assert store[slots].item() == 0
    assert hits > 50  # the accept probability is 8/9


def test_balanced_counts_update_within_a_batch():
    # Buffer of 4: two of class 0, one each of 1 and 2. Accepting three class-9 items in one batch
    # first evicts a 0, then (0 and 9 tie at... ) the counts must keep every class ≤ 2.
    store = torch.tensor([0, 0, 1, 2])
    uniforms = torch.zeros((2, 3), dtype=torch.float64)  # r = 0 < K: accept all
    positions, slots = balanced_reservoir_slots(4, torch.tensor([9, 9, 9]), store, 4, uniforms)
    buffer = store.clone()
    buffer[slots] = 9
    counts = torch.bincount(buffer)
    assert counts[9] == 2 and counts.max() == 2


def sequential_balanced(num_seen, labels, store, capacity, uniforms):
    """Balanced reservoir item by item: reservoir's accept test; once full, the victim is a
    random slot of the most frequent class (ties: the smallest label)."""
    buffer = list(store)
    for i, label in enumerate(labels):
        n = num_seen + i
        if n < capacity:
            buffer.append(label)
            continue
        if min(int(uniforms[0][i] * (n + 1)), n) >= capacity:
            continue
        counts = np.bincount(buffer)
        candidates = np.flatnonzero(np.asarray(buffer) == int(np.argmax(counts)))
        buffer[int(candidates[min(int(uniforms[1][i] * candidates.size), candidates.size - 1)])] = label
    return buffer


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    capacity=st.integers(1, 30),
    extra_seen=st.integers(0, 60),
    labels=st.lists(st.integers(0, 5), max_size=80),
    store_seed=st.integers(0, 2**31),
)
def test_balanced_batch_equals_item_by_item_insertion(capacity, extra_seen, labels, store_seed):
    rng = np.random.default_rng(store_seed)
    num_seen = int(rng.integers(0, capacity + 1)) if extra_seen == 0 else capacity + extra_seen
    store = rng.integers(0, 5, min(num_seen, capacity)).tolist()
    uniforms = torch.rand((2, len(labels)), generator=torch.Generator().manual_seed(store_seed), dtype=torch.float64)
    positions, slots = balanced_reservoir_slots(num_seen, torch.tensor(labels, dtype=torch.int64), torch.tensor(store, dtype=torch.int64), capacity, uniforms)
    assert torch.unique(slots).numel() == slots.numel()
    assert positions.tolist() == sorted(positions.tolist())
    buffer = store + [None] * max(0, int(slots.max()) + 1 - len(store) if slots.numel() else 0)
    for p, s in zip(positions.tolist(), slots.tolist()):
        buffer[s] = labels[p]
    assert buffer == sequential_balanced(num_seen, labels, store, capacity, uniforms.numpy())
