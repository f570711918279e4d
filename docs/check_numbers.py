"""Check that the numbers the docs quote are what the commands next to them produce (`make docs-check`).

A number in README.md or docs/*.md comes from a command written in a comment just above its
paragraph:

    <!-- numbers: retain run examples/lwf.yaml --set train.threads=1 => metrics.last_accuracy=78.7 -->

The command (a `retain run`, relative to the repository root) is run into a temporary --out with
-q; each `path=value` is read from its results.json (dotted keys; a list takes an index,
`stage_accuracy.-1`) and must equal the value at the number of decimals written. The value
must also appear in the paragraph after the comment, so prose and check cannot part.
`--list` only parses and checks that the values appear in the text (seconds; a fast test runs it).
The commands set `train.threads=1`: results are bit-exact on one machine for a given thread count,
and can differ in the last digits with another count or another CPU (docs/experiments.md).
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMENT = re.compile(r"<!-- numbers: (?P<command>.+?) => (?P<checks>.+?) -->")


@dataclass
class Claim:
    """One command and the numbers the paragraph after it quotes."""

    file: Path
    line: int
    command: str
    checks: dict[str, str]
    paragraph: str


def claims(files: list[Path] | None = None) -> list[Claim]:
    """Every `<!-- numbers: ... -->` comment of README.md and docs/*.md."""
    found = []
    for path in files or [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        lines = path.read_text().splitlines()
        for index, line in enumerate(lines):
            match = COMMENT.search(line)
            if not match:
                continue
            paragraph = []
            for following in lines[index + 1:]:
                if not following.strip() and paragraph:
                    break
                paragraph.append(following)
            checks = dict(pair.split("=", 1) for pair in match["checks"].split())
            found.append(Claim(path, index + 1, match["command"], checks, "\n".join(paragraph)))
    return found


def _lookup(results: dict, path: str) -> float:
    value = results
    for part in path.split("."):
        value = value[int(part)] if isinstance(value, list) else value[part]
    return float(value)


def check_text(claim: Claim) -> list[str]:
    """Problems of a claim that need no run: a value the paragraph does not quote."""
    where = f"{claim.file.relative_to(ROOT)}:{claim.line}"
    return [f"{where}: {key}={value} is not quoted in the paragraph after the comment"
            for key, value in claim.checks.items() if value not in claim.paragraph]


def check_run(claim: Claim) -> list[str]:
    """Run the claim's command and compare its results with the quoted values."""
    where = f"{claim.file.relative_to(ROOT)}:{claim.line}"
    words = shlex.split(claim.command)
    if words[:2] != ["retain", "run"]:
        return [f"{where}: only `retain run ...` commands can be checked, got {claim.command!r}"]
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "run"
        proc = subprocess.run([sys.executable, "-m", "retain", *words[1:], "--out", str(out), "-q"], cwd=ROOT,
                              capture_output=True, text=True)
        if proc.returncode != 0:
            return [f"{where}: `{claim.command}` failed: {proc.stderr.strip()[-500:]}"]
        results = json.loads((out / "results.json").read_text())
    problems = []
    for key, quoted in claim.checks.items():
        decimals = len(quoted.split(".")[1]) if "." in quoted else 0
        got = round(_lookup(results, key), decimals)
        if f"{got:.{decimals}f}" != quoted:
            problems.append(f"{where}: `{claim.command}` gives {key} = {got:.{decimals}f}, the docs say {quoted}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="parse and check the text only; run nothing")
    args = parser.parse_args(argv)
    found = claims()
    problems = [p for claim in found for p in check_text(claim)]
    if not args.list:
        for claim in found:
            print(f"running {claim.command}", flush=True)
            problems += check_run(claim)
    for problem in problems:
        print(problem)
    print(f"{len(found)} documented command(s), {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
