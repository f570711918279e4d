"""The generated bad inputs (tests/faults/generated_cases.py): each refused clearly, before anything is written."""

from __future__ import annotations

import pytest

from generated_cases import GENERATED, schema_cases
from retain.errors import RetainError
from retain.experiment.config import build_config

SCHEMA_CASES = schema_cases()


@pytest.mark.parametrize("case", SCHEMA_CASES, ids=[case.id for case in SCHEMA_CASES])
def test_every_field_refuses_its_bad_values_and_settings_without_effect(case):
    try:
        config = build_config(preset="demo", overrides=list(case.sets))
    except RetainError as exc:
        text = " ".join(str(exc).split())
        verdict = "clear" if all(needle in text for needle in case.needles) else "unclear"
    except Exception as exc:  # noqa: BLE001 - any other exception is a traceback for the user
        verdict, text = "traceback", f"{type(exc).__name__}: {exc}"
    else:
        notes = " ".join(getattr(config, "_notes", []))
        verdict = "clear" if case.needles[-1] == "" and case.needles[0] in notes else "silent-wrong"
        text = f"accepted; notes: {notes!r}"
    GENERATED[verdict] += 1
    assert verdict == "clear", f"{verdict}: {case.sets}: {text}"


def test_every_field_of_the_schema_has_generated_cases():
    fields = {case.id.split(":")[0] for case in SCHEMA_CASES}
    from retain.config.activity import schema_fields

    assert fields == set(schema_fields())
