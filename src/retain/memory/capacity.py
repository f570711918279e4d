"""How many rows fit in a byte budget: raw rows, measured JPEG rows, MRDC's per-class rule."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

import torch


def row_capacity(budget_bytes: int, row_bytes: int) -> int:
    """Raw rows that fit: ⌊bytes / row bytes⌋."""
    return max(int(budget_bytes), 0) // int(row_bytes)


def per_class_capacity(budget_bytes: int, mean_row_bytes: float, num_classes: int = 1) -> int:
    """MRDC's quantity rule (spec §10.1 item 1): N_q = ⌊(budget / classes) / mean encoded bytes⌋.

    Exact rational arithmetic, so 61,440 bytes at a mean of 1,536 bytes gives exactly 40.
    """
    per_class = Fraction(int(budget_bytes), int(num_classes))
    return int(per_class / Fraction(mean_row_bytes).limit_denominator(10**9))


def fill_round_robin(sizes_by_class: dict[int, Sequence[int]], budget_bytes: int, header_bytes: int = 0) -> dict[int, int]:
    """Rows per class when classes take turns (ascending class id), each adding its next row in
    priority order, until the next row would exceed the budget (the header is charged once)."""
    counts = {c: 0 for c in sizes_by_class}
    used = header_bytes
    active = sorted(c for c, sizes in sizes_by_class.items() if len(sizes) > 0)
    while active:
        still = []
        for c in active:
            size = int(sizes_by_class[c][counts[c]])
            if used + size > budget_bytes:
                return counts
            used += size
            counts[c] += 1
            if counts[c] < len(sizes_by_class[c]):
                still.append(c)
        active = still
    return counts


def common_quota_bytes(sizes_by_class: dict[int, Sequence[int]], max_m: int) -> torch.Tensor:
    """bytes[m] = Σ_c (bytes of class c's first min(m, n_c) rows), for m = 0..max_m."""
    total = torch.zeros(max_m + 1, dtype=torch.int64)
    for sizes in sizes_by_class.values():
        cumulative = torch.cat([torch.zeros(1, dtype=torch.int64), torch.cumsum(torch.as_tensor(list(sizes), dtype=torch.int64), 0)])
        total += cumulative[torch.clamp(torch.arange(max_m + 1), max=cumulative.numel() - 1)]
    return total


def largest_common_quota(sizes_by_class: dict[int, Sequence[int]], budget_bytes: int, header_bytes: int = 0) -> int:
    """Largest m such that every class's first m rows (all of them if fewer) fit together.

    Returns 0 when not even one row per class fits. Unbounded (all rows fit) returns the
    largest class size.
    """
    max_m = max((len(s) for s in sizes_by_class.values()), default=0)
    if max_m == 0:
        return 0
    fits = common_quota_bytes(sizes_by_class, max_m) + header_bytes <= budget_bytes
    fits[0] = True
    return int(torch.nonzero(fits).flatten()[-1])


def water_level(counts: Sequence[int], rows: int) -> int:
    """Largest m with Σ_c min(n_c, m) ≤ rows: a common per-class quota that classes with fewer
    candidates than m leave to the others (the largest count when everything fits)."""
    counts = sorted(int(n) for n in counts)
    if not counts:
        return 0
    used = 0
    for i, n in enumerate(counts):
        remaining = len(counts) - i
        # Every class from i on has at least n candidates: can they all take n?
        if used + n * remaining > rows:
            return max((rows - used) // remaining, 0)
        used += n
    return counts[-1]
