import pytest
from pydantic import ValidationError

from retain.errors import BudgetError, ConfigError
from retain.memory import CheckedMemorySection as MemoryConfig


def test_defaults_mean_no_memory_raw_codec():
    config = MemoryConfig()
    assert config.budget is None and config.codec == "raw"


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
