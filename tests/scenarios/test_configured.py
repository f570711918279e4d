"""make_plan: the `scenario` section turned into the plan of the matching scenario function."""

import numpy as np

from retain.config import ScenarioConfig
from retain.scenarios import make_plan

TRAIN = np.repeat(np.arange(10), 30)
TEST = np.repeat(np.arange(10), 5)


def test_class_incremental_section_gives_base_and_increment_tasks():
    plan = make_plan(ScenarioConfig(base=4, increment=2, order="natural"), TRAIN, TEST, 10)
    assert plan.kind == "class-incremental"
    assert [len(t.seen_classes) for t in plan.tasks] == [4, 6, 8, 10]
    assert plan.class_order == list(range(10))


def test_blurry_section_defaults_to_one_task_per_increment_of_classes():
    plan = make_plan(ScenarioConfig(kind="blurry", increment=2, blurry=10, order="shuffle", order_seed=1), TRAIN, TEST, 10)
    assert plan.kind == "blurry" and len(plan.tasks) == 5
    assert plan.params["blurry_percent"] == 10 and plan.params["seed"] == 1
    assert sorted(np.concatenate([t.train_indices for t in plan.tasks]).tolist()) == list(range(len(TRAIN)))


def test_the_order_seed_reaches_the_class_order():
    a = make_plan(ScenarioConfig(order="shuffle", order_seed=1993), TRAIN, TEST, 10).class_order
    b = make_plan(ScenarioConfig(order="shuffle", order_seed=7), TRAIN, TEST, 10).class_order
    assert a == [int(c) for c in np.random.RandomState(1993).permutation(10)] and a != b
