"""Fixtures of the fault-injection suite and the tally of the bad-input table."""

from __future__ import annotations

import pytest

from fault_cases import TALLY
from fault_runs import one_thread, results
from fault_workspace import SMALL, build_workspace
from retain.runs.config import build_config
from retain.runs.loop import run


@pytest.fixture(scope="session")
def workspace(tmp_path_factory):
    """The folder the bad-input table runs in (built once per session)."""
    root = tmp_path_factory.mktemp("faults-ws")
    build_workspace(root)
    return root


@pytest.fixture(scope="session")
def reference(tmp_path_factory):
    """results.json of the small run (tests/faults/fault_workspace.py: SMALL) never interrupted, one thread."""
    out = tmp_path_factory.mktemp("reference") / "run"
    with one_thread():
        run(build_config(preset="demo", overrides=SMALL), out=out)
    return results(out)


def pytest_terminal_summary(terminalreporter):
    from generated_cases import GENERATED

    if GENERATED:
        terminalreporter.write_line(
            f"generated bad inputs: {sum(GENERATED.values())} tried, {GENERATED['clear']} clear, {GENERATED['unclear']} unclear, "
            f"{GENERATED['traceback']} tracebacks, {GENERATED['silent-wrong']} silent-wrong"
        )
    if TALLY:
        tried = sum(TALLY.values())
        terminalreporter.write_line(
            f"bad-input table: {tried} inputs tried, {TALLY['clear']} clear, {TALLY['unclear']} unclear, "
            f"{TALLY['traceback']} tracebacks, {TALLY['silent-wrong']} silent-wrong"
        )
