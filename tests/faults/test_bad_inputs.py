"""The bad-input table through the `retain` command: a clear one-paragraph refusal, never a traceback,
never a silent wrong result, and nothing already written changed.

In-process through the Typer app (CliRunner) for speed; the cases marked `subprocess` go through
`python -m retain`, the console entry point. Each case is classified (clear / unclear / traceback /
silent-wrong); the counts are printed at the end of the session.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fault_cases import CASES, TALLY, Case
from retain.cli import app


def _tree(root: Path) -> dict[str, str]:
    """Every file under root with its digest (lock files hold the last writer's pid: not data)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != ".retain.lock"}


def _invoke(case: Case, workspace: Path) -> tuple[int, str, bool]:
    """Exit code, everything printed, and whether an exception escaped (a traceback)."""
    argv = [arg.replace("{ws}", str(workspace)) for arg in case.argv]
    if case.subprocess:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        proc = subprocess.run([sys.executable, "-m", "retain", *argv], cwd=workspace, capture_output=True, text=True,
                              timeout=120, env=env)
        output = proc.stdout + proc.stderr
        return proc.returncode, output, "Traceback" in output
    result = CliRunner().invoke(app, argv)
    escaped = result.exception is not None and not isinstance(result.exception, SystemExit)
    output = result.output + (f"\n{type(result.exception).__name__}: {result.exception}" if escaped else "")
    return result.exit_code, output, escaped or "Traceback" in result.output


def classify(case: Case, code: int, output: str, traceback: bool, changed: bool) -> str:
    """clear, unclear, traceback or silent-wrong (a wrong input accepted, or files changed)."""
    if traceback:
        return "traceback"
    if changed or (code == 0 and case.kind == "refuse"):
        return "silent-wrong"
    text = " ".join(output.split())
    if all(needle in text for needle in case.needles):
        return "clear"
    return "silent-wrong" if code == 0 else "unclear"


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_is_refused_clearly(case, workspace, monkeypatch):
    monkeypatch.chdir(workspace)  # default run and sweep folders would land here
    before = _tree(workspace)
    code, output, traceback = _invoke(case, workspace)
    changed = _tree(workspace) != before
    verdict = classify(case, code, output, traceback, changed)
    TALLY[verdict] += 1
    assert verdict == "clear", f"{verdict}: exit {code}, changed files: {changed}\n{output[-3000:]}"
    if case.kind == "refuse":
        assert code == 2, output  # the project's errors exit 2; usage errors from the option parser also exit 2
        assert len([line for line in output.splitlines() if line.startswith("error:") or "Error" in line]) <= 3


def test_the_table_is_large():
    assert len(CASES) >= 150
