"""Rainbow Memory's blurry-M splits: each task is mostly its home classes plus M% strays of all classes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from retain.errors import ConfigError
from retain.scenarios.checks import check_int, check_num_classes
from retain.scenarios.class_incremental import disjoint_plan
from retain.scenarios.labels import LabelsLike, label_array
from retain.scenarios.order import DEFAULT_ORDER_SEED, class_order, order_name
from retain.scenarios.plan import Plan, TaskSpec


def blurry(
    train_labels: LabelsLike,
    test_labels: LabelsLike,
    num_classes: int,
    num_tasks: int,
    blurry_percent: float,
    order: str | Sequence[int] = "natural",
    seed: int = DEFAULT_ORDER_SEED,
) -> Plan:
    """Blurry-M plan (spec §3.2): classes get home tasks in class order (num_classes/num_tasks each).

    Each class keeps (100 - M)% of its training samples, chosen at random, in its home task and
    spreads the other M% evenly at random over all tasks, home included; every sample is used
    exactly once. With M > 0 every class appears in task 1, so every task covers and tests all
    classes; `new_classes` and `task_classes` are the home classes. M = 0 is the disjoint split.
    """
    check_num_classes(num_classes)
    check_int("scenario.num_tasks", num_tasks, 1, num_classes, f"1..{num_classes} (classes in the dataset: {num_classes})")
    if num_classes % num_tasks:
        raise ConfigError(
            f"scenario.num_tasks is {num_tasks}, which does not divide the {num_classes} classes; "
            f"blurry splits give every task the same number of home classes, so num_tasks must "
            f"divide {num_classes}."
        )
    if isinstance(blurry_percent, bool) or not isinstance(blurry_percent, (int, float, np.number)) \
            or not 0 <= blurry_percent <= 100:
        raise ConfigError(
            f"scenario.blurry_percent is {blurry_percent!r}, which is not allowed; it must be a "
            f"number from 0 (disjoint tasks) to 100 (RM uses 10 and 30)."
        )
    order_ids = class_order(num_classes, order, seed)
    per_task = num_classes // num_tasks
    percent = int(blurry_percent) if float(blurry_percent).is_integer() else float(blurry_percent)
    params = {"num_tasks": int(num_tasks), "blurry_percent": percent,
              "order": order_name(order), "seed": int(seed)}
    if blurry_percent == 0:
        return disjoint_plan("blurry", train_labels, test_labels, num_classes, order_ids,
                             [per_task] * num_tasks, params)

    train = label_array(train_labels, num_classes, "train")
    test = label_array(test_labels, num_classes, "test")
    rng = np.random.default_rng(seed)
    # Indices of each original class, found with one sort instead of a scan per class.
    by_class = np.split(np.argsort(train, kind="stable"), np.cumsum(np.bincount(train, minlength=num_classes))[:-1])
    parts: list[list[np.ndarray]] = [[] for _ in range(num_tasks)]
    for remapped, original in enumerate(order_ids):
        samples = rng.permutation(by_class[original])
        num_minor = int(np.floor(len(samples) * blurry_percent / 100 + 0.5))
        parts[remapped // per_task].append(samples[num_minor:])
        for task, chunk in enumerate(np.split(samples[:num_minor], _even_cuts(num_minor, num_tasks, rng))):
            parts[task].append(chunk)

    all_classes = list(range(num_classes))
    all_test = np.arange(len(test), dtype=np.int64)
    blocks = [list(range(t * per_task, (t + 1) * per_task)) for t in range(num_tasks)]
    tasks = [
        TaskSpec(index=t, new_classes=blocks[t], seen_classes=all_classes,
                 train_indices=np.sort(np.concatenate(parts[t])).astype(np.int64),
                 test_indices=all_test.copy())
        for t in range(num_tasks)
    ]
    return Plan(kind="blurry", class_order=order_ids, tasks=tasks, task_classes=blocks,
                num_classes=num_classes, params=params)


def _even_cuts(count: int, parts: int, rng: np.random.Generator) -> np.ndarray:
    """Cut points splitting `count` items into `parts` sizes differing by at most one.

    The parts that get the extra item are drawn at random, so no task is favoured.
    """
    sizes = np.full(parts, count // parts)
    sizes[rng.choice(parts, count % parts, replace=False)] += 1
    return np.cumsum(sizes)[:-1]
