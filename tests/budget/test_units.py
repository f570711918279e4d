import pytest

from retain.errors import BudgetError
from retain.budget.units import parse_budget, raw_image_bytes

CIFAR = 3072


def test_raw_image_bytes_cifar_and_imagenet():
    assert raw_image_bytes((3, 32, 32)) == 3072
    assert raw_image_bytes((3, 224, 224)) == 150_528


@pytest.mark.parametrize(
    "value, expected",
    [
        (7864320, 7864320),
        (1024.9, 1024),
        ("7864320", 7864320),
        ("24MiB", 24 * 2**20),
        ("24MB", 24 * 2**20),  # MEMO's tables: MB = 2^20 bytes
        ("1.5 MiB", int(1.5 * 2**20)),
        ("512KiB", 512 * 1024),
        ("2000 images", 2000 * CIFAR),
        ("2000 image", 2000 * CIFAR),
        ("1 GiB", 2**30),
    ],
)
def test_accepted_forms(value, expected):
    assert parse_budget(value, CIFAR) == expected


@pytest.mark.parametrize("value", [0, -5, "0 images", "-3MiB", "lots", "24 parsecs", "", float("nan"), True, None])
def test_rejected_values_name_field_value_and_forms(value):
    with pytest.raises(BudgetError) as info:
        parse_budget(value, CIFAR, field="memory.budget")
    message = str(info.value)
    assert "memory.budget" in message and repr(value) in message and "images" in message
