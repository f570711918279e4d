"""Property-based: whatever the stream, image size, codec and budget, the memory never holds
more bytes than its budget, and class-balanced rebuilds give every class the same share."""

import torch
from conftest import make_smooth_images
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retain.errors import BudgetError
from retain.budget import fill_round_robin, raw_image_bytes
from retain.memory import ExemplarMemory, MemoryConfig

SHAPES = [(1, 8, 8), (3, 8, 8), (1, 16, 16), (3, 12, 20), (3, 32, 32)]
CODECS = [
    {"codec": "raw"},
    {"codec": "jpeg", "quality": 30},
    {"codec": "jpeg", "quality": 75, "shared_header": True},
    {"codec": "jpeg", "quality": 95},
    {"codec": "jpeg", "quality": 50, "shared_header": True, "decode_cache": False},
]
SETTINGS = settings(max_examples=15, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])


def images_for(n, shape, seed):
    half = n // 2
    noise = torch.randint(0, 256, (n - half, *shape), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))
    return torch.cat([make_smooth_images(half, *shape, seed=seed), noise])


@SETTINGS
@given(
    shape=st.sampled_from(SHAPES),
    codec=st.sampled_from(CODECS),
    budget_images=st.floats(0.2, 30),
    tasks=st.lists(st.tuples(st.integers(1, 3), st.integers(1, 10)), min_size=1, max_size=3),
    seed=st.integers(0, 10_000),
)
def test_rebuilds_stay_within_budget_and_balanced(shape, codec, budget_images, tasks, seed):
    budget = max(1, int(budget_images * raw_image_bytes(shape)))
    mem = ExemplarMemory(MemoryConfig(budget=budget, **codec), shape, "cpu", budget, seed)
    seen: list[int] = []
    for task, (num_new, per_class) in enumerate(tasks):
        new = list(range(len(seen), len(seen) + num_new))
        seen += new
        candidates = {c: images_for(per_class, shape, seed + c) for c in new}
        before = mem.store.nbytes()
        kept_before = mem.exemplars_per_class()
        try:
            m = mem.rebuild_class_balanced(candidates, seen, task)
        except BudgetError:
            assert mem.store.nbytes() == before  # a refused rebuild leaves the memory untouched
            return
        assert mem.store.nbytes() <= budget
        counts = mem.exemplars_per_class()
        assert all(n <= m for n in counts.values())
        if codec["codec"] == "raw":
            # The largest common quota m with Σ_c min(n_c, m) ≤ K rows: ⌊K/|C|⌋ when every class
            # has enough candidates; a class with fewer leaves its room to the others.
            rows = budget // raw_image_bytes(shape)
            available = [per_class if c in new else kept_before.get(c, 0) for c in seen]
            assert sum(min(n, m) for n in available) <= rows
            assert m >= max(available) or sum(min(n, m + 1) for n in available) > rows
            if all(n > rows // len(seen) for n in available):
                assert m == rows // len(seen)  # ⌊K/|C|⌋
        assert sum(mem.ledger_items().values()) == mem.store.nbytes()


@SETTINGS
@given(
    shape=st.sampled_from(SHAPES),
    codec=st.sampled_from(CODECS),
    budget_images=st.floats(0.5, 20),
    batches=st.lists(st.integers(1, 12), min_size=1, max_size=6),
    policy=st.sampled_from(["reservoir", "balanced_reservoir", "class_balanced"]),
    seed=st.integers(0, 10_000),
)
def test_streams_stay_within_budget(shape, codec, budget_images, batches, policy, seed):
    budget = max(1, int(budget_images * raw_image_bytes(shape)))
    mem = ExemplarMemory(MemoryConfig(budget=budget, policy=policy, **codec), shape, "cpu", budget, seed)
    g = torch.Generator().manual_seed(seed)
    for step, size in enumerate(batches):
        labels = torch.randint(0, 4, (size,), generator=g)
        try:
            mem.insert_stream(images_for(size, shape, seed + step), labels, task=0, step=step)
        except BudgetError:
            assert step == 0 and len(mem.store) == 0  # only the very first insertion can find it impossible
            return
        assert mem.store.nbytes() <= budget
        assert len(mem.store) <= mem.stream_capacity


@settings(max_examples=50, deadline=None, derandomize=True)
@given(
    sizes=st.dictionaries(st.integers(0, 9), st.lists(st.integers(1, 50), min_size=0, max_size=8), max_size=6),
    budget=st.integers(0, 600),
)
def test_round_robin_fill_is_balanced_and_within_budget(sizes, budget):
    counts = fill_round_robin(sizes, budget)
    assert sum(sum(sizes[c][: counts[c]]) for c in sizes) <= budget
    unfinished = [counts[c] for c in sizes if counts[c] < len(sizes[c])]
    if unfinished:  # classes that still had candidates differ by at most one row
        assert max(counts.values(), default=0) <= min(unfinished) + 1
