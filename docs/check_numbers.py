"""Check that the numbers the docs quote are what the commands next to them produce (`make docs-check`).

A number in README.md or docs/*.md comes from a command written in a comment just above its
paragraph:

    <!-- numbers: retain run examples/lwf.yaml --set train.threads=1 => metrics.last_accuracy=78.7 -->

The command (a `retain run`, relative to the repository root) is run into a temporary --out with
-q; each `path=value` is read from its results.json (dotted keys; a list takes an index,
`stage_accuracy.-1`) and must equal the value at the number of decimals written. The value
must also appear in the paragraph after the comment (a table counts as one paragraph), so prose
and check cannot part.

Seeds: a `{1,2,3}` in the command runs it once per value (`--seed {1,2,3}`; several groups go in
step: `--seed {1,2} --set scenario.order_seed={1,2}` is two runs). A check then
quotes either every run's value in turn (`metrics.last_accuracy=93.54,91.02,94.55`, each quoted
in the text) or their mean and sample standard deviation (`metrics.last_accuracy=93.04±1.68`,
quoted as `93.04 ± 1.68`), or both (the path written twice); `metrics.forgetting_fm.mean=31.1`
checks the mean alone.

A sweep (`retain sweep GRID ...`, run into a temporary --out) is checked cell by cell: a check
`mnist/ewc@metrics.last_accuracy=89.27±0.71` takes the cells whose directory names every value
given (`data.name=mnist__seed=1__variant=ewc` for seeds 1-3), in seed order, as the runs above.

Other commands (`retain budget ...`, `python -m benchmarks.short_batch`) are checked on what they
print: `stdout=7431,23.54` asks that each value appear in the command's output as a number of its
own (and in the paragraph); a benchmark's figures that are results, not timings, only.

Only results are checked, never timings: seconds and images per second depend on the machine and
its load, so the docs give them with the benchmark that measures them (README "Performance") and
no comment here. The commands set `train.threads=1`: results are bit-exact on one machine for a
given thread count, and can differ in the last digits with another count or another CPU
(docs/experiments.md).

A command that takes more than a few minutes (a CIFAR run, a sweep, a distributed run) is
written `<!-- numbers slow: ... -->`: the same checks, run only with `--slow` (`make
docs-check-slow`: hours on 2 cores; `python docs/check_numbers.py --slow docs/methods/il2m.md`
checks one page).

Every figure with a decimal point in a paragraph (a table is one) stands under a `numbers`
comment or under `<!-- unchecked: REASON -->`, which says why no command of retain makes it: a
paper's published figure, a setting or a constant, a timing (named with its benchmark). A figure
under neither is a problem, so a page that gains a result without its command fails the default
test suite (tests/test_docs_numbers.py); `--unchecked` lists the figures under `unchecked`.

`--list` only parses and checks the text (seconds; the default test suite runs it); the full
check runs every fast command (tens of minutes on 2 cores: `make docs-check` and the slow test).
`python docs/check_numbers.py docs/methods/bic.md` checks one page.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMENT = re.compile(r"<!-- numbers(?P<slow> slow)?: (?P<command>.+?) => (?P<checks>.+?) -->")
UNCHECKED = re.compile(r"<!-- unchecked: (?P<reason>.*?) -->")
FIGURE = re.compile(r"(?<![\w.])\d+\.\d+(?!\w|\.\d)")  # 93.04, 0.5: a figure with a decimal point
STDOUT = "stdout"  # the check of a command's printed output
MEAN = ".mean"  # a path ending so is checked on the mean of its runs alone
CELLS = "@"  # `mnist/ewc@metrics.last_accuracy`: a path of the sweep cells named mnist and ewc
SEEDS = re.compile(r"\{([^{}]+)\}")  # `{1,2,3}`: one run per value


@dataclass
class Claim:
    """One command and the numbers the paragraph after it quotes."""

    file: Path
    line: int
    command: str
    checks: list[tuple[str, str]]  # (path, quoted value); a path may be checked twice (values and mean ± std)
    paragraph: str
    slow: bool = False

    def commands(self) -> list[str]:
        """The command once per value of its `{...}` groups (in step: the i-th run takes every group's
        i-th value); the command itself when it has none."""
        groups = [[value.strip() for value in match[1].split(",")] for match in SEEDS.finditer(self.command)]
        if not groups:
            return [self.command]
        if len({len(values) for values in groups}) != 1:
            raise ValueError(f"{self.command!r}: every {{...}} group must hold as many values")
        return [SEEDS.sub(lambda _, row=iter(row): next(row), self.command) for row in zip(*groups)]


def _comment(pattern: re.Pattern, line: str) -> re.Match | None:
    """The comment `pattern` finds in `line`, unless it is quoted as code (`` `<!-- numbers: ...` ``)."""
    match = pattern.search(line)
    return None if match is None or line[:match.start()].endswith("`") else match


def documented_pages() -> list[Path]:
    """README.md, docs/*.md and docs/methods/*.md."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "docs" / "methods").glob("*.md"))]


def claims(files: list[Path] | None = None) -> list[Claim]:
    """Every `<!-- numbers: ... -->` comment of the given pages (default: documented_pages())."""
    found = []
    for path in files or documented_pages():
        lines = path.read_text().splitlines()
        for index, line in enumerate(lines):
            match = _comment(COMMENT, line)
            if not match:
                continue
            paragraph = []
            for following in lines[index + 1:]:
                if not following.strip() and paragraph:
                    break
                paragraph.append(following)
            checks = [tuple(pair.split("=", 1)) for pair in match["checks"].split()]
            found.append(Claim(path, index + 1, match["command"], checks, "\n".join(paragraph), bool(match["slow"])))
    return found


@dataclass
class Figure:
    """A figure with a decimal point in a page, and what vouches for it."""

    file: Path
    line: int
    text: str
    under: str  # "numbers", "unchecked: <reason>" or "" (nothing: a problem)


def figures(path: Path) -> list[Figure]:
    """Every figure with a decimal point of a page outside code blocks and comments, with the
    comment above its paragraph (a `numbers` or an `unchecked` one)."""
    found, under, fenced = [], "", False
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip().startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            continue
        if not line.strip():
            under = ""
            continue
        if _comment(COMMENT, line):
            under = "numbers"
        elif _comment(UNCHECKED, line):
            under = "unchecked: " + _comment(UNCHECKED, line)["reason"].strip()
        # A comment's, an inline command's, an arXiv number's and a section's (§4.4) figures aside.
        text = re.sub(r"<!--.*?-->|`[^`]*`|arXiv[: ]\d+\.\d+|§ ?\d+(\.\d+)*([-–]\d+(\.\d+)*)?", "", line)
        found += [Figure(path, number, figure, under) for figure in FIGURE.findall(text)]
    return found


def figure_problems(path: Path) -> list[str]:
    """A figure under no comment, or under an `unchecked` one that gives no reason."""
    where = path.relative_to(ROOT)
    return [f"{where}:{f.line}: {f.text} has no command: put `<!-- numbers: COMMAND => ... -->` (or `numbers slow`) "
            "above its paragraph, or `<!-- unchecked: REASON -->` when no command of retain makes it"
            if not f.under else f"{where}:{f.line}: `unchecked` gives no reason"
            for f in figures(path) if not f.under or f.under == "unchecked: "]


def _lookup(results: dict, path: str) -> float:
    value = results
    for part in path.split("."):
        value = value[int(part)] if isinstance(value, list) else value[part]
    return float(value)


def _quoted_forms(value: str) -> list[str]:
    """How the text quotes a check's value: `93.04±1.68` as `93.04 ± 1.68`, `1,2` as `1` and `2`."""
    if "±" in value:
        mean, std = value.split("±")
        return [f"{mean} ± {std}"]
    return value.split(",")


def check_text(claim: Claim) -> list[str]:
    """Problems of a claim that need no run: a value the paragraph does not quote, or a check whose
    form does not fit the number of runs."""
    where = f"{claim.file.relative_to(ROOT)}:{claim.line}"
    text = " ".join(claim.paragraph.split())
    problems = [f"{where}: {key}={value} is not quoted in the paragraph after the comment"
                for key, value in claim.checks if not all(form in text for form in _quoted_forms(value))]
    try:
        runs = len(claim.commands())
    except ValueError as error:
        return [*problems, f"{where}: {error}"]
    for key, value in claim.checks:
        if key == STDOUT or CELLS in key:  # a sweep's runs are its cells, known once it ran
            continue
        if key.endswith(MEAN):
            if runs < 2 or "," in value or "±" in value:
                problems.append(f"{where}: {key}={value} is one mean, which needs a `{{...}}` of two or more runs")
            continue
        if "±" in value and runs < 2:
            problems.append(f"{where}: {key}={value} is a mean ± std, which needs a `{{...}}` of two or more runs")
        elif "±" not in value and len(value.split(",")) != runs:
            problems.append(f"{where}: {key}={value} quotes {len(value.split(','))} value(s) for {runs} run(s)")
    return problems


def compare(where: str, command: str, key: str, quoted: str, values: list[float]) -> str | None:
    """A problem when `values` (one per run) do not give the quoted figure at its decimals, else None."""
    if key.endswith(MEAN):
        figures, written = [statistics.mean(values)], [quoted]
    elif "±" in quoted:
        figures = [statistics.mean(values), statistics.stdev(values)]
        written = quoted.split("±")
    else:
        figures, written = values, quoted.split(",")
    decimals = [len(w.split(".")[1]) if "." in w else 0 for w in written]
    got = [f"{round(f, d):.{d}f}" for f, d in zip(figures, decimals)]
    joined = ("±" if "±" in quoted else ",").join(got)
    return None if got == [w.strip() for w in written] else f"{where}: `{command}` gives {key} = {joined}, the docs say {quoted}"


def run_results(command: str) -> dict:
    """results.json of `command` (a `retain run ...`) run into a temporary directory; RuntimeError when it fails."""
    words = shlex.split(command)
    if words[:2] != ["retain", "run"]:
        raise RuntimeError(f"only `retain run ...` commands can be checked, got {command!r}")
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "run"
        proc = subprocess.run([sys.executable, "-m", "retain", *words[1:], "--out", str(out), "-q"], cwd=ROOT,
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"`{command}` failed: {proc.stderr.strip()[-500:]}")
        return json.loads((out / "results.json").read_text())


def printed(command: str) -> str:
    """What `command` prints: a `retain ...` other than `retain run`, or a `python -m benchmarks...`
    (run with this interpreter); RuntimeError when it fails."""
    words = shlex.split(command)
    if words[0] == "retain" and words[1:2] != ["run"]:
        argv = [sys.executable, "-m", "retain", *words[1:]]
    elif words[:2] == ["python", "-m"] and words[2:3] and words[2].startswith("benchmarks"):
        argv = [sys.executable, *words[1:]]
    else:
        raise RuntimeError(f"a stdout check takes `retain ...` (not `retain run`) or `python -m benchmarks...`, got {command!r}")
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"})
    if proc.returncode != 0:
        raise RuntimeError(f"`{command}` failed: {proc.stderr.strip()[-500:]}")
    return proc.stdout


def missing_from_output(where: str, command: str, quoted: str, output: str) -> list[str]:
    """The quoted values that `output` does not print as numbers of their own."""
    return [f"{where}: `{command}` does not print {value}" for value in quoted.split(",")
            if not re.search(rf"(?<![\d.]){re.escape(value)}(?![\d]|\.\d)", output)]


def check_run(claim: Claim) -> list[str]:
    """Run the claim's command(s) and compare their results with the quoted values."""
    where = f"{claim.file.relative_to(ROOT)}:{claim.line}"
    if any(key == STDOUT for key, _ in claim.checks):
        if len(claim.checks) > 1:
            return [f"{where}: a stdout check stands alone (its command writes no results.json)"]
        try:
            output = "".join(printed(command) for command in claim.commands())
        except RuntimeError as error:
            return [f"{where}: {error}"]
        return missing_from_output(where, claim.command, claim.checks[0][1], output)
    if shlex.split(claim.command)[:2] == ["retain", "sweep"]:
        return check_sweep(where, claim)
    try:
        results = [run_results(command) for command in claim.commands()]
    except RuntimeError as error:
        return [f"{where}: {error}"]
    problems = [compare(where, claim.command, key, quoted, [_lookup(r, key.removesuffix(MEAN)) for r in results])
                for key, quoted in claim.checks]
    return [p for p in problems if p]


def sweep_results(command: str) -> dict[str, dict]:
    """results.json of every cell of `command` (a `retain sweep ...`) run into a temporary
    directory, by cell directory name; RuntimeError when it fails."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "sweep"
        proc = subprocess.run([sys.executable, "-m", "retain", *shlex.split(command)[1:], "--out", str(out), "-q"],
                              cwd=ROOT, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"`{command}` failed: {proc.stderr.strip()[-500:]}")
        return {cell.parent.name: json.loads(cell.read_text()) for cell in sorted(out.glob("*/results.json"))}


def cells_named(cells: dict[str, dict], selector: str) -> list[dict]:
    """The results of the cells whose directory name gives every value of `selector` (`mnist/ewc`), by seed."""
    wanted = set(selector.split("/"))
    chosen = [(dict(part.split("=", 1) for part in name.split("__")), results) for name, results in cells.items()]
    chosen = [(parts, results) for parts, results in chosen if wanted <= set(parts.values())]
    return [results for parts, results in sorted(chosen, key=lambda c: int(c[0].get("seed", 0)))]


def check_sweep(where: str, claim: Claim) -> list[str]:
    """Run a sweep claim's grid and compare each check with the cells it names."""
    try:
        cells = sweep_results(claim.command)
    except RuntimeError as error:
        return [f"{where}: {error}"]
    problems = []
    for key, quoted in claim.checks:
        selector, path = key.split(CELLS, 1)
        runs = cells_named(cells, selector)
        if not runs:
            problems.append(f"{where}: no cell of `{claim.command}` is named {selector}")
            continue
        problems.append(compare(where, f"{claim.command} [{selector}]", path, quoted,
                                [_lookup(r, path.removesuffix(MEAN)) for r in runs]))
    return [p for p in problems if p]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="parse and check the text only; run nothing")
    parser.add_argument("--slow", action="store_true", help="also run the slow commands (`numbers slow`: hours)")
    parser.add_argument("--unchecked", action="store_true", help="list the figures under `unchecked` with their reasons")
    parser.add_argument("--only", metavar="TEXT", help="run only the commands that contain TEXT")
    parser.add_argument("pages", nargs="*", type=Path, help="Markdown pages to check (default: README.md and docs/)")
    args = parser.parse_args(argv)
    pages = [page.resolve() for page in args.pages] or documented_pages()
    if args.unchecked:
        for figure in (f for page in pages for f in figures(page) if f.under.startswith("unchecked")):
            print(f"{figure.file.relative_to(ROOT)}:{figure.line}: {figure.text} ({figure.under})")
        return 0
    found = claims(pages)
    problems = [p for page in pages for p in figure_problems(page)] + [p for claim in found for p in check_text(claim)]
    to_run = [] if args.list else [claim for claim in found if (args.slow or not claim.slow)
                                   and (args.only is None or args.only in claim.command)]
    for claim in to_run:
        print(f"running {claim.command}", flush=True)
        problems += check_run(claim)
    for problem in problems:
        print(problem)
    slow = sum(claim.slow for claim in found)
    print(f"{len(found)} documented command(s) ({slow} slow), {len(to_run)} run, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
