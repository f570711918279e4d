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


def test_no_page_quotes_a_figure_without_a_command_or_a_reason():
    """A result added to a page without the command that makes it (or without saying why no command
    does: a paper's figure, a setting, a timing) fails here."""
    problems = [p for page in check_numbers.documented_pages() for p in check_numbers.figure_problems(page)]
    assert problems == [], "\n".join(problems[:20])
    slow = [c for c in check_numbers.claims() if c.slow]
    pages = {str(c.file.relative_to(ROOT)) for c in slow}
    assert {"README.md", "docs/methods/il2m.md", "docs/methods/maer.md", "docs/methods/derpp.md", "docs/methods/memo.md",
            "docs/methods/mrdc.md", "docs/methods/rainbow.md"} <= pages


def test_a_figure_needs_a_command_or_a_reason(tmp_path, monkeypatch):
    monkeypatch.setattr(check_numbers, "ROOT", tmp_path)
    page = tmp_path / "page.md"
    page.write_text("Intro (§4.4, arXiv 2505.17664, `--set train.lr=0.05`).\n\n"
                    "Last accuracy 71.79 after five tasks.\n\n"
                    "<!-- unchecked: a paper's published figure -->\nThe paper reports 78.09.\n\n"
                    "<!-- unchecked:  -->\nlr 0.1.\n\n"
                    "<!-- numbers slow: retain run -p il2m-fmnist --seed 1 => metrics.last_accuracy=68.66 -->\n"
                    "Last accuracy 68.66 (lr 0.1 in this paragraph is covered too).\n\n"
                    "```\nretain run --set train.lr=0.5\n```\n")
    assert check_numbers.figure_problems(page) == [
        "page.md:3: 71.79 has no command: put `<!-- numbers: COMMAND => ... -->` (or `numbers slow`) above its "
        "paragraph, or `<!-- unchecked: REASON -->` when no command of retain makes it",
        "page.md:9: `unchecked` gives no reason"]
    (claim,) = check_numbers.claims([page])
    assert claim.slow and claim.command == "retain run -p il2m-fmnist --seed 1"


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


def test_a_mean_alone_and_a_sweep_s_cells_by_name():
    values = [31.04, 31.2, 31.1]
    assert check_numbers.compare("w", "cmd", "m.mean", "31.1", values) is None
    assert check_numbers.compare("w", "cmd", "m.mean", "31.2", values) == "w: `cmd` gives m.mean = 31.1, the docs say 31.2"
    assert check_numbers.check_text(_claim("retain run", [("m.mean", "31.1")], "31.1")) == [
        "docs/page.md:1: m.mean=31.1 is one mean, which needs a `{...}` of two or more runs"]
    cells = {"data.name=mnist__seed=2__variant=ewc": {"m": 2}, "data.name=mnist__seed=1__variant=ewc": {"m": 1},
             "data.name=mnist__seed=1__variant=ewc-rm-code": {"m": 7}, "data.name=fashion-mnist__seed=1__variant=ewc": {"m": 5}}
    assert [r["m"] for r in check_numbers.cells_named(cells, "mnist/ewc")] == [1, 2]  # by seed, exact names
    assert [r["m"] for r in check_numbers.cells_named(cells, "ewc-rm-code")] == [7]


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
