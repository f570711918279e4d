"""Class-incremental plans: B base classes, then `increment` new classes per task (B0/Inc, B50/Inc), or uneven tasks."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from retain.errors import ConfigError
from retain.scenarios.checks import check_int, check_num_classes
from retain.scenarios.labels import LabelsLike, indices_of_classes, label_array
from retain.scenarios.order import DEFAULT_ORDER_SEED, class_order, order_name
from retain.scenarios.plan import Plan, TaskSpec


def class_incremental(
    train_labels: LabelsLike,
    test_labels: LabelsLike,
    num_classes: int,
    base: int,
    increment: int | Sequence[int],
    order: str | Sequence[int] = "natural",
    seed: int = DEFAULT_ORDER_SEED,
    num_tasks: int | None = None,
) -> Plan:
    """Disjoint tasks over a class order: `base` classes first (0 = no base task), then `increment`
    per task, or, when `increment` is a list such as [2, 3, 5], tasks of exactly those sizes;
    `num_tasks` keeps only the first tasks.

    Task t trains on every training sample of its new classes and is tested on all classes
    seen so far. Class ids in the plan are remapped (class_order[i] -> i).
    """
    check_num_classes(num_classes)
    check_int("scenario.base", base, 0, num_classes, f"0..{num_classes} (0 = no base task; classes in the dataset: {num_classes})")
    sizes = ([base] if base else []) + task_sizes(increment, num_classes - base, base, num_classes)
    if num_tasks is not None:
        check_int("scenario.num_tasks", num_tasks, 1, len(sizes), f"1..{len(sizes)} for this base and increment")
        sizes = sizes[:num_tasks]
    order_ids = class_order(num_classes, order, seed)
    shown = int(increment) if isinstance(increment, (int, np.integer)) else [int(n) for n in increment]
    params = {"base": int(base), "increment": shown, "order": order_name(order), "seed": int(seed)}
    return disjoint_plan("class-incremental", train_labels, test_labels, num_classes, order_ids, sizes, params)


def task_sizes(increment: int | Sequence[int], remaining: int, base: int, num_classes: int) -> list[int]:
    """The sizes of the tasks after the base: `remaining / increment` equal tasks, or the given list."""
    if isinstance(increment, (int, np.integer)) and not isinstance(increment, bool):
        check_int("scenario.increment", increment, 1, num_classes, f"1..{num_classes} (classes in the dataset: {num_classes})")
        if remaining % increment:
            raise ConfigError(
                f"scenario.increment is {increment}, which does not divide the {remaining} "
                f"classes left after a base of {base} (num_classes {num_classes}); the last task may "
                f"not be short, so choose an increment that divides {remaining}, or give each task's "
                f"size as a list (e.g. scenario.increment=[2, 3, 5])."
            )
        return [int(increment)] * (remaining // increment)
    sizes = list(increment)
    for i, size in enumerate(sizes):
        check_int(f"scenario.increment[{i}]", size, 1, num_classes, f"1..{num_classes}")
    if sum(sizes) != remaining:
        raise ConfigError(
            f"scenario.increment = {sizes} adds up to {sum(sizes)} classes, but {remaining} classes are left "
            f"after a base of {base} (num_classes {num_classes}); the task sizes must add up to {remaining} "
            "(use scenario.num_tasks to stop early)."
        )
    return [int(size) for size in sizes]


def disjoint_plan(
    kind: str,
    train_labels: LabelsLike,
    test_labels: LabelsLike,
    num_classes: int,
    order_ids: list[int],
    sizes: list[int],
    params: dict,
) -> Plan:
    """A plan whose task t holds exactly the next `sizes[t]` classes of the order, tested on tasks 1..t."""
    train = label_array(train_labels, num_classes, "train")
    test = label_array(test_labels, num_classes, "test")
    bounds = np.cumsum([0] + sizes)
    blocks = [list(range(int(bounds[t]), int(bounds[t + 1]))) for t in range(len(sizes))]
    tasks = []
    for t, block in enumerate(blocks):
        seen = list(range(int(bounds[t + 1])))
        tasks.append(TaskSpec(
            index=t,
            new_classes=block,
            seen_classes=seen,
            train_indices=indices_of_classes(train, [order_ids[c] for c in block]),
            test_indices=indices_of_classes(test, [order_ids[c] for c in seen]),
        ))
    return Plan(kind=kind, class_order=order_ids, tasks=tasks, task_classes=blocks,
                num_classes=num_classes, params=params)
