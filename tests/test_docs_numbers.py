"""Numbers in the docs come from the commands next to them (docs/check_numbers.py, `make docs-check`)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs"))

import check_numbers  # noqa: E402


def test_every_documented_number_is_quoted_next_to_its_command():
    found = check_numbers.claims()
    assert any(c.file.name == "extending.md" for c in found)  # the LwF numbers are checked
    assert [p for c in found for p in check_numbers.check_text(c)] == []


def test_a_number_that_drifts_is_reported(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("<!-- numbers: retain run --preset demo => metrics.last_accuracy=12.3 -->\nLast: 45.6 %.\n")
    (claim,) = check_numbers.claims([page])
    claim.file = ROOT / "docs" / "page.md"  # named relative to the repository in the message
    assert check_numbers.check_text(claim) == ["docs/page.md:1: metrics.last_accuracy=12.3 is not quoted in the paragraph after the comment"]


@pytest.mark.slow
def test_docs_check_reproduces_every_documented_number():
    proc = subprocess.run([sys.executable, str(ROOT / "docs" / "check_numbers.py")], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:]
