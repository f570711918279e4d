"""How many rows fit in a byte budget: the room for exemplars, raw rows, measured JPEG rows,
the class quotas (the water level, MRDC's per-class rule) and the bound herding may stop at."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

import torch

from retain.errors import BudgetError


def reserved_bytes(charged_bytes: int, budget_bytes: int | None, exemplar_bytes: int | None) -> int:
    """Bytes of the budget exemplars may not use: those charged besides exemplars (extra
    parameters, statistics, a teacher), and under budget.exemplars=fixed everything above the
    fixed exemplar room (`exemplar_bytes`)."""
    if exemplar_bytes is not None and budget_bytes is not None:
        return max(charged_bytes, budget_bytes - exemplar_bytes)
    return charged_bytes


def exemplar_room(budget_bytes: int, reserved: int = 0) -> int:
    """Bytes left for exemplars: the budget minus the bytes charged elsewhere (a BudgetError when none are left)."""
    room = int(budget_bytes) - int(reserved)
    if room < 0:
        raise BudgetError(
            f"Impossible budget: memory.budget is {int(budget_bytes):,} bytes but {int(reserved):,} bytes "
            f"are already charged to model parameters or statistics, leaving nothing for exemplars; "
            f"raise memory.budget or use a smaller model."
        )
    return room


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


def class_quota(counts: Sequence[int], rows: int) -> int:
    """Rows each class may keep when `rows` fit and the classes have `counts` candidates:
    ⌊rows / classes⌋ (MEMO/PyCIL), raised while classes with fewer candidates leave room to the
    others (the water level; blurry streams, where disjoint tasks never do)."""
    return max(rows // max(len(counts), 1), water_level(counts, rows))


def quota_upper_bound(counts: Sequence[int], room_bytes: int, smallest_row_bytes: int, stores_pixels: bool) -> int:
    """No class can keep more rows than the class quota of `counts` computed with the smallest
    row, so a ranking (herding) may stop there instead of ranking every candidate. JPEG rows of
    other images may be smaller than the sampled ones: a 2x margin for a codec that compresses."""
    margin = 1 if stores_pixels else 2
    rows = margin * int(room_bytes) // max(int(smallest_row_bytes), 1)
    return class_quota(counts, rows) + 1
