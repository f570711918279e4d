"""DER++ (spec §6, acceptance check §10.6.3): stored logits, two independent buffer minibatches."""

import math

import torch
import torch.nn.functional as F

from retain.engine.trainer import train_task
from retain.runs.config import build_config
from retain.runs.loop import build_setup, run
from retain.methods.base import Batch
from retain.methods.derpp import masked_mse, pad_logits


def test_padded_logits_count_only_the_columns_they_had():
    stored = pad_logits(torch.tensor([[1.0, 2.0]]), 4)
    assert stored.shape == (1, 4) and math.isnan(stored[0, 3])
    outputs = torch.tensor([[2.0, 4.0, 9.0]])
    assert masked_mse(outputs, stored).item() == (1.0 + 4.0) / 2


def _setup(*overrides):
    config = build_config(preset="demo", overrides=["method.name=derpp", "memory.budget=40 images", "train.epochs=1",
                                                    "scenario.num_tasks=2", "train.lr=0.02", *overrides], seed=5)
    return build_setup(config)


def test_buffer_keeps_pre_step_logits_and_the_loss_has_three_terms():
    setup = _setup()
    method, ctx = setup.method, setup.ctx
    first = setup.plan.tasks[0]
    method.before_task(first)
    train_task(method, first, ctx)
    store = method.memory.store
    assert store.extras["logits"].shape == (len(store), ctx.plan.num_classes)
    stream_idx = torch.as_tensor(first.train_indices[:4])
    slots = torch.arange(3)
    raw = torch.cat([ctx.train_images(stream_idx), store.gather(slots)])
    images = ctx.augmenter.eval(raw)
    labels = torch.cat([ctx.train_labels(stream_idx), store.labels[slots]])
    batch = Batch(images=images, labels=labels, raw=raw, from_memory=torch.tensor([False] * 4 + [True] * 3),
                  indices=torch.cat([stream_idx, slots]), extras={"logits": store.extras["logits"][slots]})
    generator_state = method.buffer_generator.get_state()
    with torch.no_grad():
        loss, terms = method.training_loss(batch)
        logits = method.network(images)["logits"]
    assert set(terms) == {"mse", "buffer_ce"}
    assert torch.allclose(terms["mse"], masked_mse(logits[4:], store.extras["logits"][slots]))
    expected = F.cross_entropy(logits[:4], labels[:4]) + 0.2 * terms["mse"] + 0.5 * terms["buffer_ce"]
    assert torch.allclose(loss, expected, rtol=1e-5)
    # The second minibatch is an independent draw of the method's own generator.
    assert not torch.equal(method.buffer_generator.get_state(), generator_state)
    # after_step stores the pre-step stream logits with the rows it inserts.
    before = len(store)
    method.memory.num_seen = before  # fill phase: the four stream rows are appended
    method.memory.stream_capacity = before + 4
    method.after_step(batch)
    assert torch.allclose(store.extras["logits"][before:, : logits.shape[1]], logits[:4])


def test_derpp_with_the_maer_buffer_learns(tmp_path):
    config = build_config(preset="demo", overrides=["method.name=derpp", "memory.policy=maer", "memory.budget=100 images",
                                                    "train.epochs=3", "train.lr=0.02"], seed=1)
    results = run(config, out=tmp_path / "derpp")
    assert results["accuracy_matrix"][-1][0] > 30
    assert len(results["method_results"]["maer_selection"]) == 5


def test_stored_logits_are_charged_as_their_own_ledger_item_unless_left_out():
    # Issue 17, item 4: every row keeps num_classes float32 logits (10 x 4 = 40 bytes on digits,
    # next to 64 bytes of pixels), so 40 images' worth of bytes holds floor(40*64 / 104) = 24 rows.
    # Free logits (mammoth's buffer; memory.charge_columns=false) leave room for all 40 rows.
    results = {}
    for charge in (True, False):
        setup = _setup(f"memory.charge_columns={str(charge).lower()}")
        method, ctx = setup.method, setup.ctx
        first = setup.plan.tasks[0]
        method.before_task(first)
        train_task(method, first, ctx)
        results[charge] = (len(method.memory.store), method.ledger_items())
    rows, items = results[True]
    assert rows == (40 * 64) // (64 + 4 * 10) == 24
    assert items["stored_columns"] == rows * 40 and items["exemplars"] == rows * 64
    assert sum(items.values()) <= 40 * 64
    free_rows, free_items = results[False]
    assert free_rows == 40 and "stored_columns" not in free_items
