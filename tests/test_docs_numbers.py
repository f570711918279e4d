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
    pages = {str(c.file.relative_to(ROOT)) for c in found}
    # LwF's numbers, the budget tables, the Avalanche table, the methods' quick runs
    assert {"docs/extending.md", "README.md", "docs/replay.md", "docs/methods/bic.md", "docs/methods/rwalk.md"} <= pages
    assert [p for c in found for p in check_numbers.check_text(c)] == []


def _claim(command, checks, paragraph):
    return check_numbers.Claim(ROOT / "docs" / "page.md", 1, command, checks, paragraph)


def test_seeds_run_in_step_and_give_each_value_or_mean_and_sample_std():
    claim = _claim("retain run --seed {1,2,3} --set scenario.order_seed={1,2,3}", {}, "")
    assert claim.commands() == [f"retain run --seed {s} --set scenario.order_seed={s}" for s in (1, 2, 3)]
    values = [91.11111450195312, 93.77777862548828, 94.22222137451172]
    assert check_numbers.compare("w", "cmd", "k", "93.04±1.68", values) is None  # sample std (n - 1)
    assert check_numbers.compare("w", "cmd", "k", "93.04±1.37", values) == "w: `cmd` gives k = 93.04±1.68, the docs say 93.04±1.37"
    assert check_numbers.compare("w", "cmd", "k", "91.11,93.78,94.22", values) is None
    assert check_numbers.compare("w", "cmd", "k", "91.11,93.77,94.22", values) is not None


def test_the_text_must_quote_what_the_comment_checks():
    three = "retain run --seed {1,2,3}"
    assert check_numbers.check_text(_claim(three, [("metrics.last_accuracy", "93.04±1.68")], "after: 93.04 ±\n1.68.")) == []
    assert check_numbers.check_text(_claim(three, [("metrics.last_accuracy", "93.04±1.68")], "after: 93.04")) == [
        "docs/page.md:1: metrics.last_accuracy=93.04±1.68 is not quoted in the paragraph after the comment"]
    assert check_numbers.check_text(_claim(three, [("k", "1.0,2.0")], "1.0 and 2.0")) == [
        "docs/page.md:1: k=1.0,2.0 quotes 2 value(s) for 3 run(s)"]
    assert check_numbers.check_text(_claim("retain run", [("k", "1.0±0.1")], "1.0 ± 0.1")) == [
        "docs/page.md:1: k=1.0±0.1 is a mean ± std, which needs a `{...}` of two or more runs"]
    assert check_numbers.check_text(_claim("retain run --seed {1,2} --set x={1,2,3}", [], "")) == [
        "docs/page.md:1: 'retain run --seed {1,2} --set x={1,2,3}': every {...} group must hold as many values"]


def test_printed_numbers_must_stand_alone_in_the_output():
    output = "total memory (MiB)  23.54  7.63 (7.6)\nsingle backbone  7431  2000\n"
    assert check_numbers.missing_from_output("w", "cmd", "7431,7.63,23.54", output) == []
    assert check_numbers.missing_from_output("w", "cmd", "743,7.6,3.54,7.631", output) == [
        "w: `cmd` does not print 743", "w: `cmd` does not print 3.54", "w: `cmd` does not print 7.631"]


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


def test_only_retain_and_benchmark_commands_are_run():
    for command in ("rm -rf build", "retain run --preset demo", "python -c 'print(1)'"):
        with pytest.raises(RuntimeError, match="a stdout check takes"):
            check_numbers.printed(command)
