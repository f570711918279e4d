import numpy as np
import pytest

from retain.errors import ConfigError
from retain.scenarios import blurry, class_incremental, class_order

NUM_CLASSES, NUM_TASKS = 10, 5
# Unequal class sizes (400..463) so that rounding is exercised.
TRAIN = np.random.default_rng(0).permutation(np.repeat(np.arange(NUM_CLASSES), 400 + 7 * np.arange(NUM_CLASSES)))
TEST = np.repeat(np.arange(NUM_CLASSES), 20)


def per_task_class_counts(plan, labels):
    """counts[t, c]: samples of remapped class c in task t."""
    remapped = plan.remap(labels)
    return np.stack([np.bincount(remapped[t.train_indices], minlength=plan.num_classes) for t in plan.tasks])


@pytest.mark.parametrize("percent", [10, 30])
def test_every_sample_is_used_exactly_once(percent):
    plan = blurry(TRAIN, TEST, NUM_CLASSES, NUM_TASKS, percent, seed=1)
    used = np.concatenate([t.train_indices for t in plan.tasks])
    np.testing.assert_array_equal(np.sort(used), np.arange(len(TRAIN)))
    for task in plan.tasks:
        assert task.train_indices.dtype == np.int64
        assert np.all(np.diff(task.train_indices) > 0)


@pytest.mark.parametrize("percent", [10, 30])
def test_home_and_minor_shares_follow_spec(percent):
    # Spec §10.3.1: home share (1 - M/100) + (M/100)/T, every other task (M/100)/T of the class.
    plan = blurry(TRAIN, TEST, NUM_CLASSES, NUM_TASKS, percent, order="shuffle", seed=2)
    counts = per_task_class_counts(plan, TRAIN)
    sizes = counts.sum(axis=0)
    m = percent / 100
    for c in range(NUM_CLASSES):
        home = c // (NUM_CLASSES // NUM_TASKS)
        assert c in plan.task_classes[home]
        for t in range(NUM_TASKS):
            expected = sizes[c] * ((1 - m) + m / NUM_TASKS if t == home else m / NUM_TASKS)
            assert abs(counts[t, c] - expected) <= 1.5, (t, c, counts[t, c], expected)
    assert (counts > 0).all()  # minor samples of every class in every task


def test_cifar10_sized_blurry10_matches_rm_collections():
    # Spec §3.2/§10.3.1: a 4875-image CIFAR-10 class keeps ~4485 at home and ~97.5 per other task.
    train = np.repeat(np.arange(10), 4875)
    plan = blurry(train, np.arange(10), 10, 5, 10, seed=3)
    counts = per_task_class_counts(plan, train)
    assert abs(counts[0, 0] - 4485) <= 1
    assert np.all(np.abs(counts[1:, 0] - 97.5) <= 1)
    assert counts[0, 0] / 4875 == pytest.approx(0.92, abs=0.001)


def test_every_task_covers_and_tests_all_classes():
    plan = blurry(TRAIN, TEST, NUM_CLASSES, NUM_TASKS, 10, seed=1)
    assert plan.kind == "blurry"
    for t, task in enumerate(plan.tasks):
        assert task.seen_classes == list(range(NUM_CLASSES))
        np.testing.assert_array_equal(task.test_indices, np.arange(len(TEST)))
        assert task.new_classes == plan.task_classes[t] == [2 * t, 2 * t + 1]


def test_home_classes_follow_the_class_order():
    order = class_order(NUM_CLASSES, "shuffle", seed=4)
    plan = blurry(TRAIN, TEST, NUM_CLASSES, NUM_TASKS, 30, order="shuffle", seed=4)
    assert plan.class_order == order
    counts = np.bincount(TRAIN[plan.tasks[0].train_indices], minlength=NUM_CLASSES)
    assert set(np.argsort(counts)[-2:]) == set(order[:2])


def test_seeded_determinism():
    assert blurry(TRAIN, TEST, NUM_CLASSES, NUM_TASKS, 10, seed=5) == blurry(TRAIN, TEST, NUM_CLASSES, NUM_TASKS, 10, seed=5)
    a = blurry(TRAIN, TEST, NUM_CLASSES, NUM_TASKS, 10, seed=5)
    b = blurry(TRAIN, TEST, NUM_CLASSES, NUM_TASKS, 10, seed=6)
    assert not np.array_equal(a.tasks[0].train_indices, b.tasks[0].train_indices)


def test_zero_percent_is_the_disjoint_split():
    plan = blurry(TRAIN, TEST, NUM_CLASSES, NUM_TASKS, 0, order="shuffle", seed=9)
    disjoint = class_incremental(TRAIN, TEST, NUM_CLASSES, base=0, increment=2, order="shuffle", seed=9)
    assert plan.kind == "blurry"
    assert plan.tasks == disjoint.tasks
    assert plan.task_classes == disjoint.task_classes
    assert plan.tasks[0].seen_classes == [0, 1]


@pytest.mark.parametrize(
    "num_tasks,percent,field",
    [(3, 10, "scenario.num_tasks"), (0, 10, "scenario.num_tasks"), (5, 101, "scenario.blurry_percent"),
     (5, -5, "scenario.blurry_percent"), (5, "10", "scenario.blurry_percent")],
)
def test_bad_settings_name_their_field(num_tasks, percent, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        blurry(TRAIN, TEST, NUM_CLASSES, num_tasks, percent)
