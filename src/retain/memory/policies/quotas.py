"""Per-class quotas and priority-prefix selection (shrinking a class keeps its first m)."""

from __future__ import annotations

from collections.abc import Iterable

import torch


def class_balanced_quota(total_slots: int, classes: Iterable[int]) -> dict[int, int]:
    """⌊K/|C|⌋ slots for every class (MEMO/PyCIL; the spare K mod |C| slots stay unused)."""
    classes = list(classes)
    share = int(total_slots) // len(classes) if classes else 0
    return {int(c): share for c in classes}


def fixed_per_class(m: int, classes: Iterable[int]) -> dict[int, int]:
    """The same fixed m for every class (a per-class memory instead of a total one)."""
    return {int(c): int(m) for c in classes}


def rank_within_class(labels: torch.Tensor) -> torch.Tensor:
    """For each slot, how many earlier slots hold the same label (its priority rank)."""
    order = torch.argsort(labels, stable=True)
    sorted_labels = labels[order]
    first = torch.searchsorted(sorted_labels, sorted_labels, right=False)
    ranks = torch.empty_like(order)
    ranks[order] = torch.arange(labels.numel(), device=labels.device) - first
    return ranks


def prefix_slots(labels: torch.Tensor, quota: dict[int, int]) -> torch.Tensor:
    """Slots (ascending) that are within their class's first quota[c]; classes not in quota drop."""
    if labels.numel() == 0:
        return torch.empty(0, dtype=torch.int64, device=labels.device)
    top = int(labels.max()) + 1
    limits = torch.zeros(max(top, 1), dtype=torch.int64, device=labels.device)
    for label, m in quota.items():
        if 0 <= label < top:
            limits[label] = m
    return torch.nonzero(rank_within_class(labels) < limits[labels]).flatten()
