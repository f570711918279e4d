import json

import numpy as np
import pytest
import torch

from retain.errors import CheckpointError
from retain.scenarios import Plan, blurry, class_incremental

TRAIN = np.repeat(np.arange(20), 5)
TEST = np.repeat(np.arange(20), 2)
NAMES = [f"name{c:02d}" for c in range(20)]


@pytest.mark.parametrize("make", [
    lambda: class_incremental(TRAIN, TEST, 20, base=10, increment=5, order="shuffle", seed=1993),
    lambda: blurry(TRAIN, TEST, 20, 4, 30, order="shuffle", seed=3),
])
def test_json_round_trip(make):
    plan = make()
    text = json.dumps(plan.to_dict())
    restored = Plan.from_dict(json.loads(text))
    assert restored == plan
    assert restored.tasks[1].train_indices.dtype == np.int64
    assert isinstance(plan.to_dict()["tasks"][0]["train_indices"], list)


def test_from_dict_names_a_missing_key():
    data = class_incremental(TRAIN, TEST, 20, 0, 10).to_dict()
    del data["tasks"][0]["test_indices"]
    with pytest.raises(CheckpointError, match="test_indices"):
        Plan.from_dict(data)


def test_remap_inverts_the_class_order_for_numpy_and_torch():
    plan = class_incremental(TRAIN, TEST, 20, 0, 10, order="shuffle", seed=1)
    original = np.array(plan.class_order)
    np.testing.assert_array_equal(plan.remap(original), np.arange(20))
    remapped = plan.remap(torch.as_tensor(original, dtype=torch.int32))
    assert remapped.dtype == torch.int64 and torch.equal(remapped, torch.arange(20))


def test_describe_lists_tasks_with_class_names():
    plan = class_incremental(TRAIN, TEST, 20, base=16, increment=2, order="shuffle", seed=1993)
    text = plan.describe(NAMES)
    lines = text.splitlines()
    assert "class-incremental" in lines[0] and "3 tasks" in lines[0]
    assert len(lines) == 2 + plan.num_tasks
    # Second task: its two classes by name, its 10 training and 36 test samples.
    second = lines[3]
    assert second.split()[:3] == ["2", "10", "36"]
    for c in plan.task_classes[1]:
        assert NAMES[plan.class_order[c]] in second
    # The 16-class first task is abbreviated with its count.
    assert "..." in lines[2] and "(16 classes)" in lines[2]
    assert NAMES[plan.class_order[0]] in lines[2] and NAMES[plan.class_order[15]] in lines[2]


def test_describe_without_names_shows_original_ids():
    plan = class_incremental(TRAIN, TEST, 20, base=0, increment=4, order=list(range(19, -1, -1)))
    assert plan.describe().splitlines()[2].endswith("19, 18, 17, 16")
