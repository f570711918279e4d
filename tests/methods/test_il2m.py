"""IL2M (spec §4, acceptance checks §10.4): rectification, gate, guard, statistics, training."""

import json

import pytest
import torch

from retain.api import load_results
from retain.engine.trainer import train_task
from retain.runs.config import build_config
from retain.reports.report import read_results
from retain.runs.loop import build_setup, run
from retain.methods.il2m import rectification_ratio, rectify_scores


def _ratio(mu_init, mu_cur, conf_first, conf_now, past, eps=1e-8):
    return rectification_ratio(
        torch.tensor(mu_init), torch.tensor(mu_cur), torch.tensor(conf_first), conf_now, torch.tensor(past), eps
    )


def test_formula_flips_the_prediction_to_the_past_class():
    # §10.4.2: z_c = 3, μ_init = 4, μ_cur = 2, conf(b) = 10, conf(s(c)) = 8 -> 3·2·1.25 = 7.5 > 7.
    ratio, guarded = _ratio([4.0, 1.0], [2.0, 1.0], [8.0, 10.0], 10.0, [True, False])
    assert ratio.tolist() == pytest.approx([2.5, 1.0])
    assert not guarded.any()
    scores = torch.tensor([[3.0, 7.0]])
    rectified = rectify_scores(scores, ratio, new=torch.tensor([False, True]))
    assert rectified[0, 0].item() == pytest.approx(7.5)
    assert rectified[0, 1].item() == 7.0  # new-class scores are never modified
    assert rectified.argmax(dim=1).item() == 0


def test_no_change_when_a_past_class_is_already_predicted():
    ratio = torch.tensor([0.1, 3.0, 1.0, 1.0])
    new = torch.tensor([False, False, True, True])
    scores = torch.tensor([[5.0, 1.0, 4.0, 2.0], [0.5, 1.0, 4.0, 2.0]])
    rectified = rectify_scores(scores, ratio, new)
    assert torch.equal(rectified[0], scores[0])  # top-1 is past class 0: untouched
    assert torch.equal(rectified[1], scores[1] * ratio)  # top-1 is new class 2: rectified
    assert torch.equal(rectified[:, 2:], scores[:, 2:])


def test_guard_skips_non_positive_statistics_and_is_silent_otherwise():
    ratio, guarded = _ratio([4.0, 4.0, 4.0, 4.0], [2.0, 0.0, -1.0, 2.0], [8.0, 8.0, 8.0, -8.0], 10.0, [True, True, True, True])
    assert guarded.tolist() == [False, True, True, True]
    assert ratio.tolist() == pytest.approx([2.5, 1.0, 1.0, 1.0])
    _, none = _ratio([1.0, 2.0], [0.5, 3.0], [1.0, 2.0], 0.0, [True, True])
    assert none.all()  # a non-positive current confidence guards every past class
    ratio, guarded = _ratio([1.0, 2.0], [0.5, 3.0], [1.0, 2.0], 4.0, [True, True])
    assert not guarded.any()
    assert ratio.tolist() == pytest.approx([(1 / 0.5) * 4.0, (2 / 3) * 2.0])


def _setup(*overrides):
    config = build_config(
        preset="demo",
        overrides=["method.name=il2m", "memory.budget=40 images", "train.epochs=2", "scenario.num_tasks=2", *overrides],
        seed=3,
    )
    return build_setup(config)


def test_statistics_use_full_data_at_first_state_and_exemplars_now():
    setup = _setup()
    method, ctx, plan = setup.method, setup.ctx, setup.plan
    first, second = plan.tasks
    method.before_task(first)
    train_task(method, first, ctx)
    method.after_task(first)
    idx = torch.as_tensor(first.train_indices)
    logits = ctx.forward_eval(method.network, ctx.train_images(idx))["logits"]
    labels = ctx.train_labels(idx)
    for c in first.new_classes:
        assert method.mu_init[c].item() == pytest.approx(logits[labels == c, c].mean().item(), rel=1e-5)
    assert method.confidence[0] == pytest.approx(logits.max(dim=1).values.mean().item(), rel=1e-5)
    mu_init_first = method.mu_init.clone()

    head_before = method.network.head.weight.detach().clone()
    method.before_task(second)
    assert method.network.head.num_classes == len(second.seen_classes)
    assert not torch.equal(method.network.head.weight[: head_before.shape[0]], head_before)  # FC re-initialised
    phases = method.training_phases(second)
    assert phases[0].lr == pytest.approx(ctx.config.train.lr / 2)  # lr = base / b at state b = 2
    train_task(method, second, ctx)
    store = method.memory.store
    exemplars = ctx.forward_eval(method.network, store.gather(torch.arange(len(store))))["logits"]
    expected = {c: exemplars[store.labels == c, c].mean().item() for c in first.new_classes}
    assert sum((store.labels == c).sum().item() for c in first.new_classes) < idx.numel()
    method.after_task(second)
    for c in first.new_classes:
        assert method.mu_cur[c].item() == pytest.approx(expected[c], rel=1e-5)
        assert method.mu_init[c].item() == mu_init_first[c].item()  # fixed at the class's first state
    assert method.ledger_items()["class_statistics"] == 4 * (len(second.seen_classes) + 2)
    # The rectified scores are their own score set, "il2m" (primary); the logits stay "cnn".
    test_images = ctx.augmenter.eval(ctx.dataset.test.images[:64])
    prediction = method.predict(test_images)
    assert torch.equal(prediction.logits, method.network(test_images)["logits"])
    assert not torch.equal(prediction.scores["il2m"], prediction.logits)


def _two_states_with_logits(old_class_logits):
    """IL2M through two states (no training) with a head whose weights are zero, so every image's
    logits are its biases: +100 for every class at state 1 (μ_init = conf(1) = 100), then at
    state 2 the given logits for the past classes and +100 for the new ones (conf(2) = 100)."""
    setup = _setup()
    method = setup.method
    first, second = setup.plan.tasks

    def set_logits(values):
        head = method.network.head
        with torch.no_grad():
            head.weight.zero_()
            head.bias.copy_(torch.tensor(values, dtype=head.bias.dtype))

    method.before_task(first)
    set_logits([100.0] * len(first.seen_classes))
    method.after_task(first)
    method.before_task(second)
    set_logits([*old_class_logits, *[100.0] * len(second.new_classes)])
    method.after_task(second)
    assert first.new_classes == [0, 1] and method.memory.exemplars_per_class().keys() >= {0, 1}
    images = setup.ctx.augmenter.eval(setup.dataset.test.images[:3])
    return method, method.predict(images)


def test_guard_fires_for_a_past_class_whose_exemplars_score_negative():
    method, prediction = _two_states_with_logits([-5.0, 50.0])  # μ_cur(0) = −5: the ratio would flip its sign
    assert method.extra_results()["il2m_guard_fired"] == 1
    assert method.extra_results()["il2m_guard_events"] == [{"task": 1, "classes": [0]}]
    # Class 0 keeps its raw score; class 1 is rectified by (100 / 50) · (100 / 100) = 2.
    torch.testing.assert_close(prediction.logits[0], torch.tensor([-5.0, 50.0, 100.0, 100.0]))
    torch.testing.assert_close(prediction.scores["il2m"][0], torch.tensor([-5.0, 100.0, 100.0, 100.0]))


def test_guard_stays_silent_when_every_statistic_is_positive():
    method, prediction = _two_states_with_logits([50.0, 25.0])
    assert method.extra_results()["il2m_guard_fired"] == 0
    assert method.extra_results()["il2m_guard_events"] == []
    # Both past classes rectified: ratios 100/50 = 2 and 100/25 = 4.
    torch.testing.assert_close(prediction.scores["il2m"][0], torch.tensor([100.0, 100.0, 100.0, 100.0]))


def test_rectify_false_charges_nothing_and_returns_raw_scores():
    method = _setup("method.rectify=false").method
    assert method.extra_ledger_items() == {}


def test_il2m_learns_and_reports_both_score_sets(tmp_path):
    config = build_config(preset="demo", overrides=["method.name=il2m", "memory.budget=100 images", "train.epochs=5"], seed=1)
    results = run(config, out=tmp_path / "il2m")
    assert results["accuracy_matrix"][-1][0] > 40  # the first task is remembered (chance is 10% overall)
    assert set(results["metrics_by_score"]) >= {"cnn", "il2m"} and "raw" not in results["metrics_by_score"]
    assert results["primary_score"] == "il2m" and results["accuracy_matrix"] == results["accuracy"]["il2m"]["matrix"]
    # The first state has no past classes: both score sets agree there.
    assert results["accuracy"]["il2m"]["matrix"][0][0] == results["accuracy"]["cnn"]["matrix"][0][0]
    assert "average_incremental_accuracy_excl_first" in results["metrics"]
    assert len(results["stage_accuracy_top5"]) == 5
    assert len(results["method_results"]["il2m_confidence"]) == 5  # conf(s) of every state


def test_an_il2m_results_file_of_the_old_naming_is_read_with_todays_names(tmp_path):
    # Before the rectified scores had their own set, results.json called them "cnn" and the logits "raw".
    config = build_config(preset="demo", overrides=["method.name=il2m", "memory.budget=100 images", "train.epochs=1",
                                                    "scenario.num_tasks=2"], seed=1)
    run(config, out=tmp_path / "il2m")
    results = json.loads((tmp_path / "il2m" / "results.json").read_text())
    old = json.loads((tmp_path / "il2m" / "results.json").read_text())
    renamed = {"il2m": "cnn", "cnn": "raw", "il2m-til": "cnn-til", "cnn-til": "raw-til"}
    for key in ("accuracy", "metrics_by_score"):
        old[key] = {renamed.get(name, name): value for name, value in old[key].items()}
    old["primary_score"] = "cnn"
    (tmp_path / "il2m" / "results.json").write_text(json.dumps(old))
    loaded = load_results(tmp_path / "il2m")
    assert loaded["primary_score"] == "il2m"
    same = json.dumps(results["accuracy"], sort_keys=True)  # JSON text: NaN (tasks not yet seen) equals itself
    assert json.dumps(loaded["accuracy"], sort_keys=True) == same
    assert json.dumps(loaded["metrics_by_score"], sort_keys=True) == json.dumps(results["metrics_by_score"], sort_keys=True)
    assert json.dumps(read_results(tmp_path / "il2m" / "results.json")["accuracy"], sort_keys=True) == same


def test_a_streaming_memory_leaves_room_for_the_statistics(tmp_path):
    # Issue 17: a reservoir fixes its row capacity at its first insertion, when no statistic exists
    # yet; IL2M reserves the second memory at its largest (4 bytes x (10 classes + 2 states) = 48),
    # so the 6,400-byte budget holds 99 rows of 64 bytes, not 100 (which plus the statistics would
    # exceed the budget and stop the run with a BudgetError).
    overrides = ["method.name=il2m", "memory.policy=reservoir", "memory.replay=batch", "scenario.increment=5",
                 "train.epochs=1", "memory.budget=100 images", "logging.report=false", "logging.tensorboard=false"]
    result = run(build_config(preset="demo", overrides=overrides, seed=1), out=tmp_path / "run")
    for entry in result["ledger"]:
        assert entry["exemplars"] == 99
        assert entry["total_bytes"] <= entry["budget_bytes"] == 6400
