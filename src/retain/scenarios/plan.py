"""Task plans: pure data saying which samples and classes each task holds."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, overload

import numpy as np
import torch

from retain.errors import CheckpointError

# Show at most this many class names per task in `describe`; longer lists are abbreviated.
_MAX_LISTED_CLASSES = 6


@dataclass(eq=False)
class TaskSpec:
    """One task: its training samples, the classes it introduces and what is evaluated after it."""

    index: int                 # 0-based
    new_classes: list[int]     # remapped ids introduced by this task (blurry: its home classes)
    seen_classes: list[int]    # remapped ids the head must cover after this task
    train_indices: np.ndarray  # int64 indices into dataset.train
    test_indices: np.ndarray   # int64 indices into dataset.test (all classes evaluated now)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (index arrays as lists); `TaskSpec.from_dict` restores an equal task."""
        return {
            "index": self.index,
            "new_classes": list(self.new_classes),
            "seen_classes": list(self.seen_classes),
            "train_indices": self.train_indices.tolist(),
            "test_indices": self.test_indices.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskSpec:
        """The task that `to_dict` described; a CheckpointError names a missing entry."""
        return cls(
            index=int(_field(data, "index", "task")),
            new_classes=[int(c) for c in _field(data, "new_classes", "task")],
            seen_classes=[int(c) for c in _field(data, "seen_classes", "task")],
            train_indices=np.asarray(_field(data, "train_indices", "task"), dtype=np.int64),
            test_indices=np.asarray(_field(data, "test_indices", "task"), dtype=np.int64),
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TaskSpec):
            return NotImplemented
        return (
            self.index == other.index
            and self.new_classes == other.new_classes
            and self.seen_classes == other.seen_classes
            and np.array_equal(self.train_indices, other.train_indices)
            and np.array_equal(self.test_indices, other.test_indices)
        )


@dataclass(eq=False)
class Plan:
    """A scenario: the class order (remapped label i is original class class_order[i]) and its tasks.

    `task_classes[j]` are the classes whose accuracy forms column j of the accuracy matrix.
    `params` records how the plan was made (base, increment, seed, ...) for provenance.
    """

    kind: str                      # "class-incremental" | "blurry"
    class_order: list[int]
    tasks: list[TaskSpec]
    task_classes: list[list[int]]
    num_classes: int
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def num_tasks(self) -> int:
        return len(self.tasks)

    @overload
    def remap(self, labels: torch.Tensor) -> torch.Tensor: ...
    @overload
    def remap(self, labels: np.ndarray) -> np.ndarray: ...

    def remap(self, labels):
        """Original class ids -> remapped ids (a tensor stays on its device, as int64)."""
        lookup = np.empty(self.num_classes, dtype=np.int64)
        lookup[np.asarray(self.class_order, dtype=np.int64)] = np.arange(len(self.class_order))
        if isinstance(labels, torch.Tensor):
            return torch.as_tensor(lookup, device=labels.device)[labels.long()]
        return lookup[np.asarray(labels, dtype=np.int64)]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (indices as lists); `Plan.from_dict` restores an equal plan."""
        return {
            "kind": self.kind,
            "num_classes": self.num_classes,
            "class_order": list(self.class_order),
            "task_classes": [list(c) for c in self.task_classes],
            "params": dict(self.params),
            "tasks": [task.to_dict() for task in self.tasks],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        return cls(
            kind=str(_field(data, "kind", "plan")),
            class_order=[int(c) for c in _field(data, "class_order", "plan")],
            tasks=[TaskSpec.from_dict(t) for t in _field(data, "tasks", "plan")],
            task_classes=[[int(c) for c in block] for block in _field(data, "task_classes", "plan")],
            num_classes=int(_field(data, "num_classes", "plan")),
            params=dict(data.get("params", {})),
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Plan):
            return NotImplemented
        return (
            self.kind == other.kind
            and self.class_order == other.class_order
            and self.tasks == other.tasks
            and self.task_classes == other.task_classes
            and self.num_classes == other.num_classes
            and self.params == other.params
        )

    def describe(self, class_names: list[str] | None = None) -> str:
        """A compact table: one line per task with its sample counts and new classes.

        `class_names` is indexed by original class id (as `Dataset.class_names`); without it
        the original ids are shown. Tasks are numbered from 1, as in the papers.
        """
        settings = ", ".join(f"{k}={v}" for k, v in self.params.items())
        lines = [f"{self.kind} plan: {self.num_tasks} tasks, {self.num_classes} classes"
                 + (f" ({settings})" if settings else "")]
        rows = [("task", "#train", "#test", "new classes")]
        for task in self.tasks:
            originals = [self.class_order[c] for c in task.new_classes]
            labels = [class_names[c] if class_names is not None else str(c) for c in originals]
            rows.append((str(task.index + 1), str(len(task.train_indices)),
                         str(len(task.test_indices)), _abbreviate(labels)))
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        for row in rows:
            lines.append("  ".join(cell.rjust(width) for cell, width in zip(row[:3], widths)) + "  " + row[3])
        return "\n".join(lines)


def _abbreviate(labels: list[str]) -> str:
    """All labels when few, else the first and last few with the count."""
    if len(labels) <= _MAX_LISTED_CLASSES:
        return ", ".join(labels)
    head, tail = labels[: _MAX_LISTED_CLASSES - 2], labels[-2:]
    return ", ".join(head) + ", ..., " + ", ".join(tail) + f" ({len(labels)} classes)"


def _field(data: dict[str, Any], key: str, what: str) -> Any:
    """A required key of a serialised plan; a missing one means the file is damaged."""
    if not isinstance(data, dict) or key not in data:
        raise CheckpointError(
            f"The serialised {what} has no {key!r} entry (keys found: "
            f"{sorted(data) if isinstance(data, dict) else type(data).__name__}); a saved plan "
            f"must be the output of Plan.to_dict()."
        )
    return data[key]
