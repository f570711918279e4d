"""MAER's buffer policy (spec §5.3): balanced reservoir during a task, then the current task's
slots are overwritten with the samples a memorization order ranks lowest, middle or highest."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from retain.errors import ConfigError
from retain.memory.policies.registry import MemoryPolicy, register_policy
from retain.memory.policies.reservoir import balanced_reservoir_assign, reservoir_assign
from retain.memory.store import MemoryStore

SELECTIONS = ("min", "middle", "max")
MIDDLE_MODES = ("clamp", "wrap")


@register_policy("maer")
class MaerPolicy(MemoryPolicy):
    """Balanced reservoir insertion; the method rewrites the task's slots at task end with
    `maer_select` (its quotas from `maer_quotas`) and `write_back`.

    Only the first `capacity` slots take part in the reservoir: slots beyond it hold a
    long-tail area (maer_high) that insertion never touches.
    """

    streaming = True
    def __init__(self, balanced: bool = True) -> None:
        # The paper's buffer per plug-in: a balanced reservoir for MAER (ER) and ER-ACE, a plain
        # one for MAER + DER++ (mammoth `maer_derpp.py`); the method chooses (StreamingReplay).
        self.balanced = balanced

    def assign(self, num_seen, batch_labels, store_labels, capacity, generator):
        if not self.balanced:
            return reservoir_assign(num_seen, batch_labels.shape[0], capacity, generator)
        return balanced_reservoir_assign(num_seen, batch_labels, store_labels[:capacity], capacity, generator)


def maer_quotas(buffer_size: int, tasks_so_far: int, classes: Sequence[int]) -> dict[int, int]:
    """D = ⌊K/t⌋ slots for the current task, split over its classes in the given order: the
    first D mod n classes get ⌊D/n⌋ + 1, the others ⌊D/n⌋ (upper bounds, not guarantees)."""
    if tasks_so_far < 1 or not classes:
        raise ValueError(f"maer_quotas needs t >= 1 and at least one class, got t={tasks_so_far}, classes={list(classes)}")
    share, rest = divmod(int(buffer_size) // int(tasks_so_far), len(classes))
    return {int(c): share + 1 if i < rest else share for i, c in enumerate(classes)}


def select_positions(length: int, size: int, how: str, middle: str = "clamp") -> np.ndarray:
    """Positions taken from an ordered list of `length` entries (lowest memorization first).

    `min`: the first `size`; `max`: the last `size`; `middle`: ⌊L/2⌋ − ⌊size/2⌋ up to
    ⌊L/2⌋ + ⌊size/2⌋ (exclusive), one fewer than `size` when it is odd (as the reference).
    When size > L, `middle="clamp"` first cuts size to L (every entry); `middle="wrap"` slices as
    the official numpy code does, so a negative start counts from the end: L = 450, size = 500
    gives positions 425..449 (25 rows, the high-memorization end; spec §11).
    """
    if how not in SELECTIONS:
        raise ConfigError(f"method.maer_policy={how!r} is not a MAER selection; use one of {', '.join(SELECTIONS)}.")
    if middle not in MIDDLE_MODES:
        raise ConfigError(f"method.maer_middle={middle!r} is not a middle mode; use one of {', '.join(MIDDLE_MODES)}.")
    if how == "middle" and middle == "wrap":
        half, reach = length // 2, max(0, int(size)) // 2
        return np.arange(length)[half - reach: half + reach]  # numpy slicing: a negative start wraps
    size = max(0, min(int(size), length))
    if how == "min":
        return np.arange(size)
    if how == "max":
        return np.arange(length - size, length)
    half, reach = length // 2, size // 2
    return np.arange(max(half - reach, 0), min(half + reach, length))


def maer_select(
    ordered_indices: torch.Tensor, ordered_labels: torch.Tensor, quotas: dict[int, int], how: str,
    middle: str = "clamp",
) -> torch.Tensor:
    """Dataset indices chosen per class (classes in `quotas` order) from one task's ordered
    list; each class's sub-list keeps the list's order (`middle`: see `select_positions`)."""
    indices = ordered_indices.cpu().numpy()
    labels = ordered_labels.cpu().numpy()
    chosen = []
    for c, size in quotas.items():
        sub = indices[labels == c]
        chosen.append(sub[select_positions(sub.size, size, how, middle)])
    return torch.from_numpy(np.concatenate(chosen) if chosen else np.empty(0, dtype=np.int64)).long()


def task_slots(store: MemoryStore, classes: Sequence[int], limit: int | None = None) -> torch.Tensor:
    """Slots (ascending) of the first `limit` slots that hold one of `classes`."""
    labels = store.labels[: len(store) if limit is None else limit]
    wanted = torch.as_tensor(list(classes), dtype=labels.dtype, device=labels.device)
    return torch.nonzero(torch.isin(labels, wanted)).flatten()


def write_back(
    store: MemoryStore,
    classes: Sequence[int],
    images: torch.Tensor,
    labels: torch.Tensor,
    task: int,
    step: int = 0,
    extras: dict[str, torch.Tensor] | None = None,
    limit: int | None = None,
) -> torch.Tensor:
    """Overwrite, one by one, the slots holding `classes` with the selected rows (§5.3 step 3).

    The shorter side decides: leftover slots keep their reservoir samples and surplus
    selections are dropped. Slots of other classes are untouched. Returns the slots written.
    """
    slots = task_slots(store, classes, limit)
    count = min(slots.numel(), images.shape[0])
    slots = slots[:count]
    if count:
        store.replace(
            slots, images[:count], labels[:count], task=task, step=step,
            extras=None if extras is None else {k: v[:count] for k, v in extras.items()},
        )
    return slots


def longtail_victims(store_labels: torch.Tensor, count: int, generator: torch.Generator) -> list[int]:
    """`count` distinct reservoir slots to give up to the long-tail area: each a random slot of
    the class most frequent among the slots not yet taken (maer_high's `add_longtail`)."""
    labels = store_labels.cpu().numpy().astype(np.int64).copy()
    taken: list[int] = []
    for _ in range(min(count, labels.size)):
        free = labels >= 0
        classes, counts = np.unique(labels[free], return_counts=True)
        pool = np.flatnonzero(labels == classes[int(np.argmax(counts))])
        slot = int(pool[int(torch.randint(pool.size, (1,), generator=generator))])
        taken.append(slot)
        labels[slot] = -1
    return taken
