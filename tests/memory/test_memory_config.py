import pytest
from pydantic import ValidationError

from retain.errors import BudgetError, ConfigError
from retain.memory import CheckedMemorySection as MemoryConfig


def test_defaults_mean_no_memory_raw_codec():
    config = MemoryConfig()
    assert config.budget is None and config.codec == "raw" and config.budget_bytes((3, 32, 32)) is None


def test_budget_bytes_from_size_images_or_per_class():
    assert MemoryConfig(budget="2000 images").budget_bytes((3, 32, 32)) == 6_144_000
    assert MemoryConfig(budget="24MB").budget_bytes((1, 28, 28)) == 24 * 2**20
    assert MemoryConfig(per_class=20).budget_bytes((3, 32, 32), num_classes=100) == 20 * 100 * 3072


@pytest.mark.parametrize(
    "fields, error, text",
    [
        ({"budget": "3 bananas"}, BudgetError, "memory.budget"),
        ({"policy": "herdin"}, ConfigError, "memory.policy"),
        ({"quality": 0}, ValidationError, "memory.quality"),
        ({"per_class": 0}, ValidationError, "memory.per_class"),
        ({"codec": "png"}, ValidationError, "codec"),
        ({"colour": True}, ValidationError, "colour"),
    ],
)
def test_bad_fields_are_named(fields, error, text):
    with pytest.raises(error, match=text):
        MemoryConfig(**fields)


def test_auto_quality_is_allowed():
    assert MemoryConfig(codec="jpeg", quality="auto").quality == "auto"
