"""The budget calculator against every number of MEMO's §2.6 tables (spec §10.2 items 1-3)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from retain.budget.protocols import (
    MIB,
    BackboneCost,
    auc2exemplar,
    budget_points,
    exemplars_in,
    extra_parameters,
    fair2exemplar,
    fair_total_bytes,
    image_equivalents,
    stored_parameters,
)
from retain.config import BudgetConfig
from retain.errors import BudgetError
from retain.metrics import auc
from retain.models import build_split_backbone, count_parameters

CIFAR = 3072
IMAGENET = 224 * 224 * 3


def split_cost(name: str) -> BackboneCost:
    split = build_split_backbone(name, 3, 32)
    g, s = count_parameters(split.generalized), count_parameters(split.make_specialized())
    return BackboneCost(name, g + s, g, s)


@pytest.fixture(scope="module")
def costs() -> dict[str, BackboneCost]:
    return {n: split_cost(n) for n in ("convnet2", "resnet14", "resnet20", "resnet26", "resnet32")}


@pytest.mark.parametrize(
    "name, total, generalized, specialized",
    [
        ("resnet32", 463_504, 112_016, 351_488),
        ("resnet26", 366_288, 88_784, 277_504),
        ("resnet20", 269_072, 65_552, 203_520),
        ("resnet14", 171_856, 42_320, 129_536),
        ("convnet2", 38_976, 1_920, 37_056),
    ],
)
def test_parameter_counts_of_the_split_backbones(costs, name, total, generalized, specialized):
    cost = costs[name]
    assert (cost.parameters, cost.generalized, cost.specialized) == (total, generalized, specialized)


def test_model_to_image_equivalents():
    assert round(image_equivalents(463_504, CIFAR), 2) == 603.52
    assert round(image_equivalents(11_176_512, IMAGENET), 1) == 297.0


def test_stored_parameters_per_growth(costs):
    r32 = costs["resnet32"]
    assert stored_parameters(r32, "backbone", 10) == 4_635_040
    assert stored_parameters(r32, "specialized", 10) == 3_626_896
    assert stored_parameters(r32, "single", 10) == 463_504
    assert extra_parameters(r32, "specialized", 3) == 2 * 351_488
    with pytest.raises(ValueError):
        stored_parameters(BackboneCost("mlp", 100), "specialized", 2)


def test_fair_budget_cifar100_b0_inc10(costs):
    r32 = costs["resnet32"]
    total = fair_total_bytes(r32, "backbone", 10, 2000, CIFAR)
    assert round(total / MIB, 2) == 23.54
    assert fair2exemplar(r32, "backbone", 10, CIFAR, r32) == 2000
    assert fair2exemplar(r32, "specialized", 10, CIFAR, r32) == 3312
    assert fair2exemplar(r32, "single", 10, CIFAR, r32) == 7431


def test_fair_budget_cifar100_b0_inc5_memo(costs):
    assert fair2exemplar(costs["resnet32"], "specialized", 20, CIFAR, costs["resnet32"]) == 4771


def test_fair_budget_imagenet_memo_follows_the_formula():
    # Spec §2.9: the formula gives 2665 (the official scripts use 2652).
    r18 = BackboneCost("resnet18-imagenet", 2_782_784 + 8_393_728, 2_782_784, 8_393_728)
    assert fair2exemplar(r18, "specialized", 10, IMAGENET, r18) == 2665


def test_auc_budget_grid_cifar100_b0_inc10(costs):
    points = budget_points([costs[n] for n in ("convnet2", "resnet14", "resnet20", "resnet26", "resnet32")],
                           costs["resnet32"], 10, 2000, CIFAR)
    assert [round(p.mib, 2) for p in points] == [7.63, 12.42, 16.12, 19.83, 23.54]
    assert [p.nominal_mb for p in points] == [7.6, 12.4, 16.0, 19.8, 23.5]
    single = costs["resnet32"]
    assert [auc2exemplar(p, "backbone", 10, CIFAR, single) for p in points] == [2096, 2000, 2000, 2000, 2000]
    assert [auc2exemplar(p, "specialized", 10, CIFAR, single) for p in points] == [2118, 2495, 2768, 3040, 3312]
    assert [auc2exemplar(p, "single", 10, CIFAR, single) for p in points] == [2000, 3634, 4900, 6165, 7431]


def test_grid_without_a_nominal_match_uses_computed_mib(costs):
    points = budget_points([costs["convnet2"], costs["resnet14"]], costs["resnet32"], 5, 100, 784)
    assert all(p.nominal_mb is None and p.axis_mb == p.mib for p in points)


def test_auc_of_a_known_curve():
    mb = [7.6, 12.4, 16.0, 19.8, 23.5]
    assert auc(mb, [0.5] * 5) == pytest.approx(0.5 * (23.5 - 7.6))
    # Linear accuracy a = mb / 100: the trapezoid rule is exact, (23.5² − 7.6²) / 200.
    assert auc(mb, [m / 100 for m in mb]) == pytest.approx((23.5**2 - 7.6**2) / 200)


def test_model_larger_than_the_total_is_refused():
    with pytest.raises(BudgetError, match="model alone needs"):
        exemplars_in(1000, 2000, 10)


def test_budget_config_validates_the_point():
    assert BudgetConfig().reference_method == "der" and BudgetConfig().reference_exemplars == 2000
    with pytest.raises(ValidationError, match="budget.point"):
        BudgetConfig(protocol="auc", point=6)
    with pytest.raises(ValidationError):
        BudgetConfig(protocol="memory-agnostic")
