import pytest
import torch

from retain.errors import CheckpointError
from retain.memory.codecs import JpegCodec, RawCodec
from retain.memory.store import MemoryStore

SHAPE = (3, 8, 8)


def images(n, seed=0):
    return torch.randint(0, 256, (n, *SHAPE), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def raw_store(**kw):
    return MemoryStore(RawCodec(), SHAPE, "cpu", **kw)


def test_add_gather_and_columns():
    store = raw_store()
    a, b = images(5, 1), images(20, 2)  # 25 rows: grows past the initial 16 by doubling
    assert store.add(a, labels=3, task=0, step=7).tolist() == list(range(5))
    slots = store.add(b, labels=torch.arange(20) % 4, task=1, scores=torch.linspace(0, 1, 20))
    assert slots.tolist() == list(range(5, 25)) and len(store) == 25
    picked = torch.tensor([24, 0, 7, 7])
    assert torch.equal(store.gather(picked), torch.cat([a, b])[picked])
    assert store.labels[:5].tolist() == [3] * 5 and store.tasks.tolist() == [0] * 5 + [1] * 20
    assert store.steps[:5].tolist() == [7] * 5 and store.scores[-1].item() == pytest.approx(1.0)
    assert store.class_counts() == {0: 5, 1: 5, 2: 5, 3: 10}
    assert store.slots_of_class(3).tolist() == [0, 1, 2, 3, 4, 8, 12, 16, 20, 24]
    assert store.nbytes() == 25 * 192 and store.row_nbytes().tolist() == [192] * 25


def test_keep_reorders_and_remove_compacts_with_extras():
    store = raw_store()
    data = images(6)
    store.add(data, labels=torch.arange(6), task=0, extras={"logits": torch.arange(12.0).view(6, 2)})
    store.keep(torch.tensor([4, 1, 5]))
    assert store.labels.tolist() == [4, 1, 5] and torch.equal(store.gather(torch.arange(3)), data[[4, 1, 5]])
    assert store.extras["logits"].tolist() == [[8.0, 9.0], [2.0, 3.0], [10.0, 11.0]]
    store.remove(torch.tensor([1]))
    assert store.labels.tolist() == [4, 5] and torch.equal(store.gather(torch.tensor([1])), data[[5]])


def test_replace_overwrites_rows_and_zeroes_missing_extras():
    store = raw_store()
    store.add(images(4), labels=0, task=0, extras={"logits": torch.ones(4, 3)})
    new = images(2, seed=9)
    store.replace(torch.tensor([3, 1]), new, labels=torch.tensor([7, 8]), task=2, step=5)
    assert store.labels.tolist() == [0, 8, 0, 7] and store.tasks.tolist() == [0, 2, 0, 2]
    assert torch.equal(store.gather(torch.tensor([3, 1])), new)
    assert store.extras["logits"][1].tolist() == [0.0, 0.0, 0.0]
    with pytest.raises(IndexError):
        store.replace(torch.tensor([4]), images(1), labels=0, task=0)


def test_jpeg_store_gathers_cache_or_decodes_identically():
    data = images(5)
    cached = MemoryStore(JpegCodec(80, shared_header=True), SHAPE, decode_cache=True)
    lazy = MemoryStore(JpegCodec(80, shared_header=True), SHAPE, decode_cache=False)
    for store in (cached, lazy):
        store.add(data, labels=1, task=0)
    idx = torch.tensor([4, 0, 2])
    expected = JpegCodec(80).decode(JpegCodec(80).encode(data[idx]))
    assert torch.equal(cached.gather(idx), expected) and torch.equal(lazy.gather(idx), expected)


@pytest.mark.parametrize("codec", [RawCodec(), JpegCodec(60), JpegCodec(60, shared_header=True)], ids=["raw", "jpeg", "jpeg-shared"])
def test_state_dict_round_trip_with_weights_only(codec, tmp_path):
    store = MemoryStore(codec, SHAPE)
    store.add(images(9), labels=torch.arange(9) % 3, task=1, step=torch.arange(9), extras={"logits": torch.randn(9, 4)})
    torch.save(store.state_dict(), tmp_path / "store.pt")
    state = torch.load(tmp_path / "store.pt", weights_only=True)
    fresh_codec = type(codec)() if isinstance(codec, RawCodec) else JpegCodec(60, shared_header=codec.shared_header)
    restored = MemoryStore(fresh_codec, SHAPE)
    restored.load_state_dict(state)
    idx = torch.arange(9)
    assert torch.equal(restored.gather(idx), store.gather(idx))
    for name in ("labels", "tasks", "steps", "scores"):
        assert torch.equal(getattr(restored, name), getattr(store, name))
    assert torch.equal(restored.extras["logits"], store.extras["logits"])
    assert restored.nbytes() == store.nbytes()


def test_load_rejects_a_different_codec():
    store = raw_store()
    store.add(images(2), labels=0, task=0)
    with pytest.raises(CheckpointError, match="memory.codec"):
        MemoryStore(JpegCodec(50), SHAPE).load_state_dict(store.state_dict())


def test_wrong_image_shape_is_refused():
    with pytest.raises(ValueError, match="shape"):
        raw_store().add(torch.zeros((1, 1, 8, 8), dtype=torch.uint8), labels=0, task=0)


@pytest.mark.parametrize("codec", [RawCodec(), JpegCodec(90)], ids=["raw", "jpeg"])
def test_write_overwrites_and_appends_in_one_call_as_replace_then_add(codec):
    # The streaming path writes overwritten and appended slots together; the result equals a
    # replace() of the old slots followed by add() of the new ones in slot order.
    first, rows = images(4, 1), images(5, 2)
    slots = torch.tensor([5, 1, 4, 3, 6])  # 1 and 3 exist; 4, 5, 6 are appended out of order
    one = MemoryStore(codec, SHAPE, "cpu")
    one.add(first, labels=torch.arange(4), task=0, extras={"logits": torch.zeros(4, 2)})
    one.write(slots, rows, labels=torch.arange(10, 15), task=2, step=9, extras={"logits": torch.ones(5, 2)})
    two = MemoryStore(codec, SHAPE, "cpu")
    two.add(first, labels=torch.arange(4), task=0, extras={"logits": torch.zeros(4, 2)})
    old = torch.tensor([1, 3])
    two.replace(old, rows[[1, 3]], labels=torch.tensor([11, 13]), task=2, step=9, extras={"logits": torch.ones(2, 2)})
    two.add(rows[[2, 0, 4]], labels=torch.tensor([12, 10, 14]), task=2, step=9, extras={"logits": torch.ones(3, 2)})
    assert len(one) == len(two) == 7
    assert torch.equal(one.gather(torch.arange(7)), two.gather(torch.arange(7)))
    for column in ("labels", "tasks", "steps"):
        assert getattr(one, column).tolist() == getattr(two, column).tolist()
    assert torch.equal(one.extras["logits"], two.extras["logits"]) and one.nbytes() == two.nbytes()


def test_write_refuses_gaps_repeats_and_negative_slots():
    store = raw_store()
    store.add(images(3), labels=0, task=0)
    for bad in ([4], [3, 5], [1, 1], [-1]):
        with pytest.raises(IndexError):
            store.write(torch.tensor(bad), images(len(bad)), labels=0, task=0)
    assert len(store) == 3
