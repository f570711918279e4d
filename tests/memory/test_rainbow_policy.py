"""RM's variation ratio, stride selection and memory-update rule on hand-made cases (spec §10.3 items 2-3)."""

import pytest
import torch

from retain.memory.policies import build_policy, policy_names
from retain.memory.policies.rainbow import rm_memory_update, stride_order, stride_positions, variation_ratio


def test_variation_ratio_spec_values():
    same = torch.full((12, 1), 3)
    split = torch.tensor([0] * 6 + [1] * 6).view(12, 1)
    distinct = torch.arange(12).view(12, 1)
    u = variation_ratio(torch.cat([same, split, distinct], dim=1))
    assert torch.allclose(u, torch.tensor([0.0, 0.5, 11 / 12]))


def test_variation_ratio_is_not_mem_cl_max_of_one_minus_count():
    # 9 of 12 agree: u = 1 - 9/12 = 0.25 (MEM-CL's max_c(1 - count_c/T) would give 1.0).
    preds = torch.tensor([2] * 9 + [0, 1, 4]).view(12, 1)
    assert variation_ratio(preds).item() == pytest.approx(0.25)


def test_stride_positions_spec_examples():
    assert stride_positions(10, 3).tolist() == [0, 3, 6]
    assert stride_positions(7, 3).tolist() == [0, 2, 4]
    assert stride_positions(3, 3).tolist() == [0, 1, 2]
    assert stride_positions(2, 3).tolist() == [0, 1]


def test_stride_order_walks_the_certainty_ranking():
    # Candidate i has uncertainty u[i]; sorted ascending the ranking is 9, 8, ..., 0.
    u = torch.linspace(1.0, 0.0, 10)
    order = stride_order(u, 3)
    assert order[:3].tolist() == [9, 6, 3]  # ranks 0, 3, 6 of the certainty ranking
    assert sorted(order.tolist()) == list(range(10))


def test_rainbow_policy_is_registered_and_needs_scores():
    assert "rainbow" in policy_names()
    policy = build_policy("rainbow")
    u = torch.tensor([0.5, 0.0, 0.25, 0.75, 0.1, 0.3, 0.9])
    assert policy.order(7, None, limit=3, scores=u)[:3].tolist() == [1, 2, 0]  # ranks 0, 2, 4 of [1, 4, 2, 5, 0, 3, 6]
    with pytest.raises(ValueError, match="uncertainty"):
        policy.order(7, None, limit=3)


def test_update_keeps_everything_when_candidates_fit():
    labels = torch.tensor([0, 0, 1, 1, 1])
    assert rm_memory_update(labels, 5, [0, 1], torch.Generator().manual_seed(0)).tolist() == [0, 1, 2, 3, 4]


def test_update_first_task_is_random_and_class_balanced():
    labels = torch.tensor([0] * 20 + [1] * 20)
    kept = [rm_memory_update(labels, 10, [0, 1], torch.Generator().manual_seed(s)) for s in range(2)]
    for positions in kept:
        assert torch.bincount(labels[positions], minlength=2).tolist() == [5, 5]
    assert set(kept[0].tolist()) != set(kept[1].tolist())  # random, seeded


def test_update_uses_rank_and_fills_leftovers_at_random():
    # Class 0 has 2 candidates (fewer than k = 4), class 1 has 10: 2 leftover slots go to class 1 at random.
    labels = torch.tensor([0, 0] + [1] * 10)
    u = torch.arange(12, dtype=torch.float32)  # class 1 ranking = its candidate order
    kept = rm_memory_update(labels, 8, [0, 1], torch.Generator().manual_seed(0),
                            rank=lambda c, pos: stride_order(u[pos], 4))
    assert kept.numel() == 8 and torch.unique(kept).numel() == 8
    assert kept[:2].tolist() == [0, 1]
    assert kept[2:6].tolist() == [2, 4, 6, 8]  # stride j = 10 // 4 = 2 over class 1's ranking
    assert set(kept[6:].tolist()) <= {3, 5, 7, 9, 10, 11}
