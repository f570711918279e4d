"""Scenarios: task plans (index arrays + class order) for class-incremental and blurry protocols."""

from retain.scenarios.blurry import blurry
from retain.scenarios.class_incremental import class_incremental
from retain.scenarios.configured import make_plan
from retain.scenarios.order import DEFAULT_ORDER_SEED, class_order
from retain.scenarios.plan import Plan, TaskSpec

__all__ = ["DEFAULT_ORDER_SEED", "Plan", "TaskSpec", "blurry", "class_incremental", "class_order", "make_plan"]
