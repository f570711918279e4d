"""MAER (spec §5, acceptance checks §10.5): proxy list, quotas, selection, write-back, training."""

import pytest
import torch

from retain.config import config_to_dict, parse_config
from retain.errors import ConfigError
from retain.engine.trainer import train_task
from retain.runs.config import build_config
from retain.runs.loop import build_setup, run
from retain.memory.codecs import RawCodec
from retain.memory.policies import build_policy
from retain.memory.policies.maer import maer_quotas, maer_select, select_positions, write_back
from retain.memory.store import MemoryStore
from retain.methods.base import Batch
from retain.methods.memorization_proxy import MemorizationProxy


def test_proxy_list_follows_the_spec_example():
    a, b, c = 0, 1, 2
    proxy = MemorizationProxy(5)
    proxy.observe(torch.tensor([a, b]), torch.tensor([True, False]))  # iteration 0
    proxy.observe(torch.tensor([b]), torch.tensor([True]))            # 1: b appended
    proxy.observe(torch.tensor([a]), torch.tensor([False]))           # 2: a removed
    proxy.observe(torch.tensor([a]), torch.tensor([True]))            # 3: a appended again
    proxy.observe(torch.tensor([c]), torch.tensor([False]))           # 4: c never listed
    order, iterations = proxy.ordered()
    assert order.tolist() == [b, a]
    assert iterations.tolist() == [1, 3]
    assert proxy.iteration == 5  # once per batch
    proxy.reset()
    assert proxy.ordered()[0].numel() == 0 and proxy.iteration == 0


def test_a_correct_sample_already_listed_keeps_its_place():
    proxy = MemorizationProxy(4)
    proxy.observe(torch.tensor([2, 3]), torch.tensor([True, True]))
    proxy.observe(torch.tensor([1]), torch.tensor([True]))
    proxy.observe(torch.tensor([3, 2]), torch.tensor([True, True]))  # revisited, still right
    assert proxy.ordered()[0].tolist() == [2, 3, 1]  # within a batch, batch order


def test_quotas_split_k_over_t_with_the_remainder_first():
    quotas = maer_quotas(500, 3, list(range(10)))  # D = 166
    assert list(quotas.values()) == [17] * 6 + [16] * 4
    assert sum(quotas.values()) == 166
    assert set(maer_quotas(500, 1, list(range(10))).values()) == {50}


def test_selection_positions_min_max_middle():
    assert select_positions(10, 3, "min").tolist() == [0, 1, 2]
    assert select_positions(10, 3, "max").tolist() == [7, 8, 9]
    assert select_positions(10, 3, "middle").tolist() == [4, 5]  # one fewer when size is odd
    assert select_positions(10, 4, "middle").tolist() == [3, 4, 5, 6]
    assert select_positions(2, 5, "min").tolist() == [0, 1]


def test_select_keeps_list_order_within_each_class():
    ordered = torch.tensor([10, 11, 12, 13, 14, 15])
    labels = torch.tensor([0, 1, 0, 1, 0, 0])
    assert maer_select(ordered, labels, {0: 2, 1: 1}, "min").tolist() == [10, 12, 11]
    assert maer_select(ordered, labels, {0: 2, 1: 1}, "max").tolist() == [14, 15, 13]


def test_write_back_overwrites_only_the_current_task_slots():
    store = MemoryStore(RawCodec(), (1, 2, 2))
    old_images = torch.arange(6 * 4, dtype=torch.uint8).reshape(6, 1, 2, 2)
    store.add(old_images, torch.tensor([0, 2, 1, 3, 2, 0]), task=0)
    before = store.gather(torch.arange(6)).clone()
    new = torch.full((5, 1, 2, 2), 200, dtype=torch.uint8)
    slots = write_back(store, [2, 3], new, torch.tensor([3, 3, 2, 2, 2]), task=1)
    assert slots.tolist() == [1, 3, 4]  # min(3 slots, 5 selected) written, one by one
    after = store.gather(torch.arange(6))
    for s in (0, 2, 5):
        assert torch.equal(after[s], before[s])  # older tasks' slots are bit-identical
    assert store.labels.tolist() == [0, 3, 1, 3, 2, 0]
    assert (after[[1, 3, 4]] == 200).all()
    # Fewer selections than slots: the leftover slot keeps its reservoir sample.
    slots = write_back(store, [1], torch.zeros((0, 1, 2, 2), dtype=torch.uint8), torch.zeros(0, dtype=torch.long), task=1)
    assert slots.numel() == 0 and torch.equal(store.gather(torch.tensor([2]))[0], before[2])


def test_maer_policy_leaves_slots_beyond_the_reservoir_alone():
    policy = build_policy("maer")
    store_labels = torch.tensor([0, 0, 1, 1, 5, 5])  # slots 4, 5: a long-tail area
    _, slots = policy.assign(4, torch.tensor([1] * 50), store_labels, 4, torch.Generator().manual_seed(0))
    assert slots.numel() > 0 and int(slots.max()) < 4


def _setup(*overrides):
    config = build_config(
        preset="demo",
        overrides=["method.name=maer", "memory.budget=60 images", "memory.batch_size=16", "train.epochs=2",
                   "scenario.num_tasks=2", "train.batch_size=16", *overrides],
        seed=2,
    )
    return build_setup(config)


def test_training_tracks_stream_rows_only_and_rewrites_the_task_slots():
    setup = _setup("method.maer_policy=max")
    method, ctx = setup.method, setup.ctx
    first, second = setup.plan.tasks
    method.before_task(first)
    train_task(method, first, ctx)
    listed, _ = method.memorization.proxy.ordered()
    assert set(listed.tolist()) <= set(first.train_indices.tolist())  # dataset indices of stream rows
    method.after_task(first)
    store = method.memory.store
    assert len(store) == 60
    method.before_task(second)
    assert method.memorization.proxy.ordered()[0].numel() == 0  # reset at task start
    train_task(method, second, ctx)
    old_slots = torch.nonzero(torch.isin(store.labels, torch.tensor(first.new_classes))).flatten()
    old_rows = store.gather(old_slots).clone()
    ordered, _ = method.memorization.proxy.ordered()
    method.after_task(second)
    assert torch.equal(store.gather(old_slots), old_rows)  # older task untouched
    # max: the written rows are the last entries of each class's proxy list.
    labels = ctx.train_labels(ordered)
    quotas = maer_quotas(60, 2, sorted(second.new_classes))
    expected = maer_select(ordered, labels, quotas, "max")
    written = method.memorization.selection_log[-1]["written"]
    new_slots = torch.nonzero(torch.isin(store.labels, torch.tensor(second.new_classes))).flatten()
    assert torch.equal(store.gather(new_slots[:written]), ctx.train_images(expected[:written]))


def test_balanced_reservoir_baseline_does_not_rewrite():
    setup = _setup("memory.policy=balanced_reservoir")
    assert setup.method.memorization is None


def test_proxy_uses_pre_step_predictions_of_the_stream_part():
    setup = _setup()
    method = setup.method
    method.before_task(setup.plan.tasks[0])
    images = setup.ctx.augmenter.eval(setup.ctx.train_images(torch.tensor([0, 1, 2, 3])))
    batch = Batch(images=images, labels=torch.tensor([0, 0, 0, 0]), raw=torch.zeros(4, dtype=torch.uint8),
                  from_memory=torch.tensor([False, False, True, True]), indices=torch.tensor([5, 6, 0, 1]))
    with torch.no_grad():
        logits = method.network(images)["logits"]
    method.training_loss(batch)
    listed = set(method.memorization.proxy.ordered()[0].tolist())
    expected = {i for i, ok in zip([5, 6], (logits[:2].argmax(1) == 0).tolist()) if ok}
    assert listed == expected  # memory rows (slots 0, 1) never enter the list


def test_maer_learns_on_digits(tmp_path):
    config = build_config(preset="demo", overrides=["method.name=maer", "memory.budget=100 images", "train.epochs=3"], seed=1)
    results = run(config, out=tmp_path / "maer")
    assert results["accuracy_matrix"][-1][0] > 30  # the first task survives 4 later tasks (chance: 10%)
    assert "forgetting_fm" in results["metrics"]
    assert len(results["method_results"]["maer_selection"]) == 5


def test_maer_high_keeps_a_longtail_area(tmp_path):
    config = build_config(preset="demo", overrides=["method.name=maer_high", "memory.budget=200 images", "train.epochs=2",
                                                    "scenario.num_tasks=2"], seed=1)
    setup = build_setup(config)
    method = setup.method
    for task in setup.plan.tasks:
        method.before_task(task)
        train_task(method, task, setup.ctx)
        method.after_task(task)
    assert method.memorization.longtail_rows == 2 * 2 * 2  # ⌊200·0.1/10⌋ = 2 per class, 2 classes per task
    assert method.memory.stream_capacity == 200 - method.memorization.longtail_rows
    assert len(method.memory.store) == 200


def test_each_plugin_inserts_with_the_papers_reservoir():
    # Issue 17, item 5: mammoth's maer.py (ER) keeps a balanced reservoir, maer_derpp.py a plain one.
    # On a stream of one class filling a full buffer of two classes, the balanced reservoir only
    # overwrites rows of the most frequent class, a plain one overwrites any slot r < K.
    from retain.memory.policies.reservoir import balanced_reservoir_assign, reservoir_assign

    kinds = {}
    for method in ("maer", "derpp"):
        config = build_config(preset="demo", overrides=[f"method.name={method}", "memory.policy=maer",
                                                        "memory.budget=100 images", "scenario.num_tasks=2"], seed=1)
        policy = build_setup(config).method.memory.policy
        kinds[method] = policy.balanced
        store_labels = torch.tensor([0] * 90 + [1] * 10)
        batch = torch.full((50,), 1)
        g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
        got = policy.assign(1000, batch, store_labels, 100, g1)
        want = (balanced_reservoir_assign(1000, batch, store_labels, 100, g2) if policy.balanced
                else reservoir_assign(1000, 50, 100, g2))
        assert all(torch.equal(a, b) for a, b in zip(got, want))
    assert kinds == {"maer": True, "derpp": False}


@pytest.mark.parametrize("method", ["er_ace", "derpp"])
def test_maer_settings_without_the_maer_policy_are_refused(method, tmp_path):
    # scores_file and longtail_fraction are read by MAER's selection only (memory.policy: maer);
    # with a plain reservoir they would change nothing.
    for setting, field in (("method.scores_file=/nowhere.npy", "method.scores_file"),
                           ("method.longtail_fraction=0.1", "method.longtail_fraction"),
                           ("method.maer_policy=max", "method.maer_policy"), ("method.maer_middle=wrap", "method.maer_middle")):
        config = build_config(preset="demo", overrides=[f"method.name={method}", "memory.budget=100 images", setting])
        with pytest.raises(ConfigError, match=rf"{field}.*memory\.policy"):
            build_setup(config)


def test_middle_wrap_slices_as_the_official_numpy_code():
    # spec §11: L = 450 candidates, quota 500 -> start 225 - 250 = -25 wraps to 425: 25 rows from the top.
    assert select_positions(450, 500, "middle", "wrap").tolist() == list(range(425, 450))
    assert select_positions(450, 500, "middle", "clamp").tolist() == list(range(450))
    ranked = list(range(450))
    assert select_positions(450, 500, "middle", "wrap").tolist() == ranked[450 // 2 - 500 // 2: 450 // 2 + 500 // 2]
    for length, size in ((10, 3), (10, 4), (90, 90), (90, 400), (7, 0)):  # numpy's slice wherever it is defined
        assert select_positions(length, size, "middle", "wrap").tolist() == ranked[:length][length // 2 - size // 2: length // 2 + size // 2]
    for length, size in ((10, 3), (10, 4), (9, 9)):  # the two agree whenever the quota fits
        assert select_positions(length, size, "middle", "wrap").tolist() == select_positions(length, size, "middle").tolist()
    assert select_positions(450, 500, "min", "wrap").tolist() == list(range(450))  # only middle wraps
    ordered = torch.arange(100, 110)
    assert maer_select(ordered, torch.zeros(10, dtype=torch.long), {0: 14}, "middle", "wrap").tolist() == [108, 109]


def test_method_maer_middle_reaches_the_selection(tmp_path, monkeypatch):
    from retain.methods import memorization_proxy

    seen = []
    real = memorization_proxy.maer_select

    def spy(*args):
        seen.append(args[4] if len(args) > 4 else "clamp")
        return real(*args)

    monkeypatch.setattr(memorization_proxy, "maer_select", spy)
    config = build_config(preset="demo", overrides=["method.name=maer", "method.maer_policy=middle", "method.maer_middle=wrap",
                                                    "train.epochs=1", "scenario.num_tasks=2"], seed=1)
    run(config, out=tmp_path / "maer")
    assert seen == ["wrap", "wrap"]
    with pytest.raises(Exception, match="method.maer_middle"):
        build_config(preset="demo", overrides=["method.name=maer", "method.maer_middle=numpy"])


def test_maer_middle_without_the_middle_selection_is_said():
    # A MAER grid sweeps maer_policy over min/middle/max with one maer_middle in its base: said, not refused.
    config = build_config(preset="demo", overrides=["method.name=maer", "method.maer_middle=wrap"])
    assert any("method.maer_middle" in note and "method.maer_policy = middle" in note for note in config._notes)
    config = build_config(preset="demo", overrides=["method.name=maer", "method.maer_policy=middle", "method.maer_middle=wrap"])
    assert not config._notes


def test_the_old_memory_spellings_of_maer_settings_still_work_and_warn():
    from retain.errors import RetainDeprecationWarning

    with pytest.warns(RetainDeprecationWarning) as said:
        config = build_config(preset="demo", overrides=["method.name=maer", "memory.maer_policy=max", "memory.maer_middle=wrap"])
    assert sorted(str(w.message).split(" is ")[0] + " -> " + str(w.message).split("now ")[1].split(";")[0] for w in said) == [
        "memory.maer_middle -> method.maer_middle", "memory.maer_policy -> method.maer_policy"]
    assert (config.method["maer_policy"], config.method["maer_middle"]) == ("max", "wrap")
    assert "maer_policy" not in config_to_dict(config)["memory"]
    with pytest.warns(RetainDeprecationWarning):  # a config.yaml of an older run: the old default means every method's own
        config = parse_config({"method": {"name": "icarl"}, "memory": {"maer_policy": "min", "maer_middle": "clamp"}})
    assert config.method == {"name": "icarl"}
