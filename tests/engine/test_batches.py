"""The epoch's batches: the same rows, in the same order, as per-step sampling would give."""

from __future__ import annotations

from types import SimpleNamespace

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from retain.engine.sampling import epoch_batches as _batches
from retain.methods.base import Phase


def context(seed: int):
    data = SimpleNamespace(train=SimpleNamespace(images=torch.empty(0, dtype=torch.uint8)))
    feed = SimpleNamespace(plan=lambda batches: None)  # an in-memory split plans nothing
    return SimpleNamespace(generator=torch.Generator().manual_seed(seed), dataset=data, feed=feed)


def method_with_memory(size: int):
    return SimpleNamespace(memory=SimpleNamespace(store=_Sized(size)))


class _Sized:
    def __init__(self, size: int) -> None:
        self.size = size

    def __len__(self) -> int:
        return self.size


def pool_per_step(stream: torch.Tensor, memory_size: int, batch_size: int, seed: int):
    """Concat phases drawn and split step by step with boolean masks (the reference)."""
    order = torch.randperm(stream.numel() + memory_size, generator=torch.Generator().manual_seed(seed))
    for chunk in order.split(batch_size):
        is_stream = chunk < stream.numel()
        yield stream[chunk[is_stream]], chunk[~is_stream] - stream.numel()


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    stream_size=st.integers(0, 70),
    memory_size=st.integers(0, 40),
    batch_size=st.integers(1, 33),
    seed=st.integers(0, 2**31),
)
def test_concat_pool_batches_equal_per_step_masks(stream_size, memory_size, batch_size, seed):
    stream = torch.randperm(1000, generator=torch.Generator().manual_seed(seed))[:stream_size]
    phase = Phase(stream=stream, epochs=1, memory="concat")
    got = [(s, m) for s, m, _ in _batches(context(seed), method_with_memory(memory_size), phase, batch_size, drop=False)]
    expected = [pair for pair in pool_per_step(stream, memory_size, batch_size, seed) if pair[0].numel() + pair[1].numel()]
    assert len(got) == len(expected)
    for (stream_idx, slots), (want_idx, want_slots) in zip(got, expected):
        assert stream_idx.tolist() == want_idx.tolist() and slots.tolist() == want_slots.tolist()


def test_batch_phases_draw_memory_slots_per_step_from_the_current_memory():
    # Streaming memories grow during the epoch: each step's slots come from the size it has then.
    memory = _Sized(0)
    stream = torch.arange(100, 130)
    phase = Phase(stream=stream, epochs=1, memory="batch", memory_batch_size=4)
    g = torch.Generator().manual_seed(3)
    order = torch.randperm(30, generator=g)
    steps = []
    batches = _batches(context(3), SimpleNamespace(memory=SimpleNamespace(store=memory)), phase, 8, drop=False)
    for step, (stream_idx, slots, _) in enumerate(batches):
        steps.append((stream_idx.tolist(), slots.tolist()))
        memory.size = 5 * (step + 1)
    assert [s for s, _ in steps] == [stream[chunk].tolist() for chunk in order.split(8)]
    expected_slots = [[]] + [torch.randperm(5 * k, generator=g)[:4].tolist() for k in (1, 2, 3)]
    assert [slots for _, slots in steps] == expected_slots
