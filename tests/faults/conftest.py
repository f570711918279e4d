"""Fixtures of the fault-injection suite and the tally of the bad-input table."""

from __future__ import annotations

import pytest

from fault_cases import TALLY
from fault_workspace import build_workspace


@pytest.fixture(scope="session")
def workspace(tmp_path_factory):
    """The folder the bad-input table runs in (built once per session)."""
    root = tmp_path_factory.mktemp("faults-ws")
    build_workspace(root)
    return root


def pytest_terminal_summary(terminalreporter):
    if TALLY:
        tried = sum(TALLY.values())
        terminalreporter.write_line(
            f"bad-input table: {tried} inputs tried, {TALLY['clear']} clear, {TALLY['unclear']} unclear, "
            f"{TALLY['traceback']} tracebacks, {TALLY['silent-wrong']} silent-wrong"
        )
