"""The task plan a `scenario` config section describes."""

from __future__ import annotations

from retain.config import ScenarioConfig
from retain.scenarios.blurry import blurry
from retain.scenarios.class_incremental import class_incremental
from retain.scenarios.labels import LabelsLike
from retain.scenarios.plan import Plan


def make_plan(scenario: ScenarioConfig, train_labels: LabelsLike, test_labels: LabelsLike, num_classes: int) -> Plan:
    """The plan of `scenario` for a dataset with these labels (original class ids) and classes."""
    s = scenario
    if s.kind == "blurry":
        num_tasks = s.num_tasks or num_classes // s.increment
        return blurry(train_labels, test_labels, num_classes, num_tasks, s.blurry, s.order, s.order_seed)
    return class_incremental(
        train_labels, test_labels, num_classes, base=s.base, increment=s.increment,
        order=s.order, seed=s.order_seed, num_tasks=s.num_tasks,
    )
