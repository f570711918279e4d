import numpy as np
import pytest
import torch

from retain.errors import ConfigError, DatasetError
from retain.scenarios import class_incremental, class_order


def synthetic_labels(num_classes, per_class, seed):
    """Shuffled labels with `per_class` samples of each class."""
    return np.random.default_rng(seed).permutation(np.repeat(np.arange(num_classes), per_class))


TRAIN = synthetic_labels(100, 12, seed=0)
TEST = synthetic_labels(100, 3, seed=1)


def check_disjoint_plan(plan, train, test, sizes):
    """The invariants of a class-incremental plan, in original and remapped label space."""
    assert [len(block) for block in plan.task_classes] == sizes
    assert [c for block in plan.task_classes for c in block] == list(range(sum(sizes)))
    for t, task in enumerate(plan.tasks):
        assert task.index == t
        assert task.new_classes == plan.task_classes[t]
        assert task.seen_classes == list(range(sum(sizes[: t + 1])))
        assert task.train_indices.dtype == np.int64 and task.test_indices.dtype == np.int64
        assert np.all(np.diff(task.train_indices) > 0) and np.all(np.diff(task.test_indices) > 0)
        # Every training sample belongs to the task's new classes, and all of them are there.
        remapped_train = plan.remap(train)
        assert set(remapped_train[task.train_indices]) == set(task.new_classes)
        assert len(task.train_indices) == np.isin(remapped_train, task.new_classes).sum()
        # The test indices cover exactly the seen classes.
        remapped_test = plan.remap(test)
        np.testing.assert_array_equal(task.test_indices, np.flatnonzero(np.isin(remapped_test, task.seen_classes)))
    # Tasks are disjoint in samples.
    all_train = np.concatenate([task.train_indices for task in plan.tasks])
    assert len(np.unique(all_train)) == len(all_train)


def test_b0_inc10_shuffled():
    plan = class_incremental(TRAIN, TEST, 100, base=0, increment=10, order="shuffle", seed=1993)
    assert plan.kind == "class-incremental" and plan.num_tasks == 10 and plan.num_classes == 100
    check_disjoint_plan(plan, TRAIN, TEST, [10] * 10)
    # Spec §10.0 item 1: task 1 of B0 Inc10 holds exactly the first ten seed-1993 labels.
    first = TRAIN[plan.tasks[0].train_indices]
    assert set(first) == {68, 56, 78, 8, 23, 84, 90, 65, 74, 76}
    assert len(plan.tasks[-1].test_indices) == len(TEST)


def test_b50_inc10():
    plan = class_incremental(TRAIN, TEST, 100, base=50, increment=10, order="natural")
    assert plan.num_tasks == 6
    check_disjoint_plan(plan, TRAIN, TEST, [50, 10, 10, 10, 10, 10])
    assert set(TRAIN[plan.tasks[1].train_indices]) == set(range(50, 60))


def test_num_tasks_keeps_the_first_tasks():
    plan = class_incremental(TRAIN, TEST, 100, base=50, increment=10, num_tasks=3)
    assert plan.num_tasks == 3 and plan.task_classes[-1] == list(range(60, 70))
    check_disjoint_plan(plan, TRAIN, TEST, [50, 10, 10])


def test_torch_labels_and_torch_remap():
    order = class_order(10, "shuffle", seed=3)
    train, test = torch.as_tensor(TRAIN % 10), torch.as_tensor(TEST % 10)
    plan = class_incremental(train, test, 10, base=4, increment=2, order=order)
    remapped = plan.remap(train)
    assert isinstance(remapped, torch.Tensor) and remapped.dtype == torch.int64
    # class_order[i] is the original id of remapped class i.
    assert torch.equal(torch.as_tensor(order)[remapped], train)
    check_disjoint_plan(plan, train.numpy(), test.numpy(), [4, 2, 2, 2])


def test_same_inputs_give_identical_plans():
    make = lambda: class_incremental(TRAIN, TEST, 100, 0, 20, order="shuffle", seed=7)
    assert make() == make()
    assert make() != class_incremental(TRAIN, TEST, 100, 0, 20, order="shuffle", seed=8)


@pytest.mark.parametrize(
    "kwargs,field",
    [
        ({"base": 101, "increment": 10}, "scenario.base"),
        ({"base": -1, "increment": 10}, "scenario.base"),
        ({"base": 0, "increment": 0}, "scenario.increment"),
        ({"base": 50, "increment": 15}, "scenario.increment"),
        ({"base": 0, "increment": 30}, "scenario.increment"),
        ({"base": 50, "increment": 10, "num_tasks": 7}, "scenario.num_tasks"),
        ({"base": 0, "increment": 10, "order": list(range(99))}, "scenario.order is"),
    ],
)
def test_bad_settings_name_their_field(kwargs, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        class_incremental(TRAIN, TEST, 100, **kwargs)


def test_labels_outside_the_classes_are_refused():
    with pytest.raises(DatasetError, match="train labels"):
        class_incremental(TRAIN, TEST, 50, base=0, increment=10)


# ---------------------------------------------------------------------- uneven increments
def test_a_list_of_increments_gives_tasks_of_those_sizes():
    train, test = synthetic_labels(10, 5, seed=2), synthetic_labels(10, 2, seed=3)
    plan = class_incremental(train, test, 10, base=0, increment=[2, 3, 5], order="shuffle", seed=7)
    check_disjoint_plan(plan, train, test, [2, 3, 5])
    assert [len(t.train_indices) for t in plan.tasks] == [10, 15, 25]
    assert plan.params["increment"] == [2, 3, 5]


def test_a_base_then_uneven_tasks():
    plan = class_incremental(TRAIN, TEST, 100, base=50, increment=[10, 20, 20])
    check_disjoint_plan(plan, TRAIN, TEST, [50, 10, 20, 20])


@pytest.mark.parametrize(
    ("increment", "needles"),
    [([2, 3], ["[2, 3] adds up to 5", "10 classes are left"]), ([4, 0, 6], ["scenario.increment[1] is 0"])],
)
def test_uneven_increments_that_do_not_cover_the_classes_are_refused(increment, needles):
    with pytest.raises(ConfigError) as error:
        class_incremental(synthetic_labels(10, 2, 0), synthetic_labels(10, 1, 0), 10, base=0, increment=increment)
    for needle in needles:
        assert needle in str(error.value)


def test_uneven_increments_in_a_config_and_their_limits():
    from retain.config import parse_config
    from retain.runs.spec import resolve_run
    from retain.runs.config import validate_config

    spec = resolve_run(validate_config({"scenario": {"increment": [2, 3, 5]}}))
    assert spec.seen_per_task == [2, 5, 10]
    with pytest.raises(ConfigError, match="needs scenario.kind = class-incremental"):
        parse_config({"scenario": {"kind": "blurry", "increment": [2, 3, 5]}})
    with pytest.raises(ConfigError, match="scenario.increment"):
        parse_config({"scenario": {"increment": []}})


def test_a_split_larger_than_the_dataset_says_how_many_classes_it_has():
    """A one-class image folder at the default increment 2: the error says the data has one class."""
    labels = torch.zeros(4, dtype=torch.int64)
    with pytest.raises(ConfigError, match=r"scenario.increment is 2.*1\.\.1 \(classes in the dataset: 1\)"):
        class_incremental(labels, labels, 1, base=0, increment=2)
