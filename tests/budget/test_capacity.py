from retain.budget.capacity import fill_round_robin, largest_common_quota, per_class_capacity, row_capacity


def test_row_capacity_is_floor():
    assert row_capacity(2000 * 3072 + 3071, 3072) == 2000


def test_mrdc_quantity_rule_examples():
    # spec §10.1 item 1
    assert per_class_capacity(61_440, 1_500) == 40
    assert per_class_capacity(61_440, 3_072) == 20  # rate 1 → 20
    assert per_class_capacity(61_440 * 100, 1_500, num_classes=100) == 40
    assert per_class_capacity(20 * 100, 100 / 1.87) == 37  # rate 1.87 → 37


def test_round_robin_stops_when_the_next_row_does_not_fit():
    sizes = {0: [10, 10, 10], 1: [20, 20], 2: [5]}
    assert fill_round_robin(sizes, 100) == {0: 3, 1: 2, 2: 1}
    assert fill_round_robin(sizes, 44) == {0: 1, 1: 1, 2: 1}  # 10+20+5 = 35; the next 10 makes 45
    assert fill_round_robin(sizes, 45) == {0: 2, 1: 1, 2: 1}
    assert fill_round_robin(sizes, 35, header_bytes=5) == {0: 1, 1: 1, 2: 0}


def test_largest_common_quota():
    sizes = {0: [10, 10, 10, 10], 1: [30, 30], 2: [1, 1, 1, 1, 1]}
    assert largest_common_quota(sizes, 41) == 1
    assert largest_common_quota(sizes, 82) == 2
    assert largest_common_quota(sizes, 40) == 0
    assert largest_common_quota(sizes, 10_000) == 5  # all rows fit
    assert largest_common_quota(sizes, 83, header_bytes=2) == 1


def test_class_quota_is_the_even_share_raised_to_the_water_level():
    from retain.budget import class_quota, water_level

    assert class_quota([50, 50, 50, 50], 100) == 25            # disjoint tasks: ⌊K/|C|⌋
    assert class_quota([5, 50, 50, 50], 100) == 31              # a small class leaves its room to the others
    assert water_level([5, 50, 50, 50], 100) == 31 and 5 + 3 * 31 <= 100 < 5 + 3 * 32
    assert class_quota([], 100) == 100 // 1                    # no class yet: nothing to share with
    assert class_quota([10, 10], 7) == 3


def test_quota_upper_bound_keeps_a_margin_for_compressed_rows():
    from retain.budget import class_quota, quota_upper_bound

    counts = [40, 40, 40]
    assert quota_upper_bound(counts, room_bytes=3072 * 30, smallest_row_bytes=3072, stores_pixels=True) == class_quota(counts, 30) + 1 == 11
    # JPEG: rows of other images may be smaller than the sampled ones, so twice the rows may fit.
    assert quota_upper_bound(counts, room_bytes=600 * 30, smallest_row_bytes=600, stores_pixels=False) == class_quota(counts, 60) + 1 == 21


def test_reserved_bytes_and_the_exemplar_room():
    import pytest

    from retain.budget import exemplar_room, reserved_bytes
    from retain.errors import BudgetError

    assert reserved_bytes(1_000, budget_bytes=10_000, exemplar_bytes=None) == 1_000
    # budget.exemplars=fixed: everything above the fixed room is out of reach, or the charges if larger.
    assert reserved_bytes(1_000, budget_bytes=10_000, exemplar_bytes=6_000) == 4_000
    assert reserved_bytes(5_000, budget_bytes=10_000, exemplar_bytes=6_000) == 5_000
    assert exemplar_room(10_000, 4_000) == 6_000
    with pytest.raises(BudgetError, match="10,001 bytes are already charged"):
        exemplar_room(10_000, 10_001)
