from retain.memory.capacity import fill_round_robin, largest_common_quota, per_class_capacity, row_capacity


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
