import pytest
import torch

from retain.errors import ConfigError, MethodError
from retain.memory.policies.registry import check_order
from retain.memory.policies import (
    MemoryPolicy,
    build_policy,
    class_balanced_quota,
    fixed_per_class,
    policy_names,
    prefix_slots,
    rank_within_class,
    register_policy,
)


def test_builtin_policies_are_registered():
    assert {"random", "herding", "reservoir", "balanced_reservoir", "class_balanced"} <= set(policy_names())
    assert build_policy("reservoir").streaming and not build_policy("herding").streaming


def test_unknown_policy_names_field_and_suggests():
    with pytest.raises(ConfigError) as info:
        build_policy("reservior")
    assert "memory.policy" in str(info.value) and "'reservoir'" in str(info.value)


def test_extension_point_registers_a_new_policy():
    @register_policy("test_reverse")
    class Reverse(MemoryPolicy):
        def order(self, count, generator, features=None, limit=None):
            return torch.arange(count - 1, -1, -1)

    assert build_policy("test_reverse").order(3, None).tolist() == [2, 1, 0]
    assert Reverse.name == "test_reverse"


def test_quotas():
    assert class_balanced_quota(2000, range(30)) == {c: 66 for c in range(30)}
    assert class_balanced_quota(3312, range(100))[99] == 33  # spec §2.5
    assert fixed_per_class(20, [4, 5]) == {4: 20, 5: 20}


def test_prefix_keeps_each_class_first_m_in_priority_order():
    labels = torch.tensor([2, 0, 2, 1, 0, 2, 0, 2])
    assert rank_within_class(labels).tolist() == [0, 0, 1, 0, 1, 2, 2, 3]
    assert prefix_slots(labels, {0: 2, 2: 1}).tolist() == [0, 1, 4]


def test_herding_policy_orders_by_features():
    features = torch.randn(12, 4, generator=torch.Generator().manual_seed(0))
    order = build_policy("herding").order(12, None, features=features, limit=5)
    assert order.numel() == 5 and torch.unique(order).numel() == 5
    with pytest.raises(ValueError):
        build_policy("herding").order(12, None)


def test_gdumb_class_balanced_greedy_sampler():
    policy = build_policy("class_balanced")
    g = torch.Generator().manual_seed(0)
    store = torch.tensor([0, 0, 0, 0, 1, 1])  # full, K = 6
    positions, slots = policy.assign(6, torch.tensor([2]), store, 6, g)
    assert positions.tolist() == [0] and store[slots].item() == 0  # largest class loses a slot
    positions, slots = policy.assign(6, torch.tensor([0]), store, 6, g)
    assert positions.numel() == 0  # class 0 already holds more than ⌊6/2⌋
    positions, slots = policy.assign(2, torch.tensor([3, 4]), store[:2], 6, g)
    assert slots.tolist() == [2, 3]  # room left: appended


def test_lucir_herding_ranks_at_most_500_per_class_and_the_memory_accepts_it():
    """LUCIR's and MRDC's code never stores more than 500 per class; a room for more (MRDC at a low
    JPEG quality asks for 2,037 candidates) keeps 500 instead of stopping the run (spec §0.4)."""
    features = torch.randn(1200, 8, generator=torch.Generator().manual_seed(0))
    lucir = build_policy("herding", variant="lucir")
    assert lucir.rank_cap == 500 and build_policy("herding").rank_cap is None
    order = lucir.order(1200, None, features=features, limit=800)
    assert order.numel() == 500 and torch.unique(order).numel() == 500
    assert build_policy("herding").order(1200, None, features=features, limit=800).numel() == 800


def test_a_policy_ranking_fewer_than_its_cap_is_still_stopped():
    class ShortOfItsCap(MemoryPolicy):
        rank_cap = 500

        def order(self, count, generator, features=None, limit=None):
            return torch.arange(499)

    with pytest.raises(MethodError, match=r"499 indices \(it must rank at least 500\)"):
        check_order(ShortOfItsCap(), ShortOfItsCap().order(1200, None), 1200, 800)
