import pytest
import torch

from retain.errors import BudgetError, ConfigError
from retain.memory import ExemplarMemory, MemoryConfig, herding_order

SHAPE = (3, 8, 8)
ROW = 192


def candidates(classes, n=30, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {c: torch.randint(0, 256, (n, *SHAPE), dtype=torch.uint8, generator=g) for c in classes}


def memory(budget_rows=60, **fields):
    config = MemoryConfig(budget=f"{budget_rows} images", **fields)
    return ExemplarMemory(config, SHAPE, "cpu", budget_rows * ROW, seed=0)


def test_rebuild_memo_rule_and_prefix_reduction():
    mem = memory(60)
    first = candidates([0, 1])
    order = lambda c, images: torch.arange(images.shape[0] - 1, -1, -1)  # noqa: E731 - reverse order
    assert mem.rebuild_class_balanced(first, [0, 1], task=0, order_fn=order) == 30
    kept0 = mem.store.gather(mem.store.slots_of_class(0))
    assert torch.equal(kept0, first[0].flip(0))
    assert mem.rebuild_class_balanced(candidates([2, 3], seed=1), [0, 1, 2, 3], task=1, order_fn=order) == 15
    assert mem.exemplars_per_class() == {0: 15, 1: 15, 2: 15, 3: 15}
    assert torch.equal(mem.store.gather(mem.store.slots_of_class(0)), kept0[:15])  # first m kept
    assert mem.ledger_items() == {"exemplars": 60 * ROW, "codec_header": 0}


def test_reserved_bytes_shrink_the_exemplar_room():
    mem = memory(60)
    mem.rebuild_class_balanced(candidates([0, 1]), [0, 1], task=0, reserved_bytes=20 * ROW)
    assert mem.exemplars_per_class() == {0: 20, 1: 20}


def test_herding_order_fn_keeps_herding_prefix():
    mem = memory(10)
    feats = torch.nn.functional.normalize(torch.randn(30, 5, generator=torch.Generator().manual_seed(2)), dim=1)
    images = candidates([0])[0]
    mem.rebuild_class_balanced({0: images}, [0], 0, order_fn=lambda c, x: herding_order(feats, x.shape[0]))
    assert torch.equal(mem.store.gather(torch.arange(10)), images[herding_order(feats, 10)])


def test_impossible_budget_is_reported_before_training():
    mem = memory(5)
    with pytest.raises(BudgetError) as info:
        mem.check_feasible(num_classes_total=10)
    message = str(info.value)
    assert "Impossible budget" in message and "10 classes" in message and "192 bytes" in message
    mem.check_feasible(num_classes_total=5)
    with pytest.raises(BudgetError, match="Impossible budget"):
        mem.rebuild_class_balanced(candidates(range(6), n=3), list(range(6)), task=0)


def test_per_class_fixed_count():
    mem = memory(60, per_class=7)
    mem.rebuild_class_balanced(candidates([0, 1]), [0, 1], task=0)
    assert mem.exemplars_per_class() == {0: 7, 1: 7}
    with pytest.raises(BudgetError):
        memory(10, per_class=7).rebuild_class_balanced(candidates([0, 1]), [0, 1], task=0)


@pytest.mark.parametrize("shared", [False, True])
def test_jpeg_rebuild_uses_measured_sizes(shared, smooth_images):
    budget = 4000
    mem = ExemplarMemory(MemoryConfig(budget=budget, codec="jpeg", quality=50, shared_header=shared), SHAPE, "cpu", budget, 0)
    images = {c: smooth_images(40, *SHAPE, seed=c) for c in range(3)}
    m = mem.rebuild_class_balanced(images, [0, 1, 2], task=0)
    assert mem.store.nbytes() <= budget and mem.exemplars_per_class() == {0: m, 1: m, 2: m}
    sizes = {c: [len(r) for r in mem.codec.encode(images[c])] for c in range(3)}
    assert m >= 1 and sum(sum(s[: m + 1]) for s in sizes.values()) + len(mem.codec.header) > budget or m == 40
    assert sum(mem.ledger_items().values()) == mem.store.nbytes()


def test_auto_quality_must_be_resolved_first():
    config = MemoryConfig(budget=5000, codec="jpeg", quality="auto")
    mem = ExemplarMemory(config, SHAPE, "cpu", 5000, 0)
    mem.check_feasible(num_classes_total=2)  # priced at quality 1 before 'auto' is resolved
    with pytest.raises(BudgetError):
        mem.check_feasible(num_classes_total=500)
    with pytest.raises(ConfigError, match="auto"):
        mem.store
    empty_state = mem.state_dict()
    mem.set_quality(40)
    mem.load_state_dict(empty_state)
    assert mem.codec.quality == 40


def test_insert_stream_reservoir_and_resume(tmp_path):
    mem = memory(20, policy="reservoir")
    g = torch.Generator().manual_seed(3)
    for step in range(6):
        images = torch.randint(0, 256, (8, *SHAPE), dtype=torch.uint8, generator=g)
        mem.insert_stream(images, torch.randint(0, 4, (8,), generator=g), task=0, step=step,
                          extras={"logits": torch.randn(8, 4, generator=g)})
    # The stored logits (4 float32 per row) are charged with the rows (memory.charge_columns).
    rows = 20 * ROW // (ROW + 4 * 4)
    assert len(mem.store) == rows and mem.num_seen == 48 and mem.store.nbytes() == rows * ROW
    assert mem.ledger_items()["stored_columns"] == rows * 16
    torch.save(mem.state_dict(), tmp_path / "mem.pt")
    twin = memory(20, policy="reservoir")
    twin.load_state_dict(torch.load(tmp_path / "mem.pt", weights_only=True))
    batch = torch.randint(0, 256, (8, *SHAPE), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, 4, (8,), generator=g)
    assert [t.tolist() for t in mem.insert_stream(batch, labels, 0, 6)] == [t.tolist() for t in twin.insert_stream(batch, labels, 0, 6)]
    assert torch.equal(mem.store.gather(torch.arange(rows)), twin.store.gather(torch.arange(rows)))


def test_stream_first_rows_are_in_arrival_order():
    mem = memory(10)
    images = torch.randint(0, 256, (6, *SHAPE), dtype=torch.uint8)
    mem.insert_stream(images, torch.arange(6), task=0, policy="balanced_reservoir")
    assert torch.equal(mem.store.gather(torch.arange(6)), images) and mem.store.labels.tolist() == list(range(6))


def test_selection_policy_cannot_stream():
    with pytest.raises(ConfigError, match="streaming"):
        memory(10, policy="herding").insert_stream(torch.zeros((1, *SHAPE), dtype=torch.uint8), torch.zeros(1, dtype=torch.long), 0)
