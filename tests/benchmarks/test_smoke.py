"""Every benchmark runs end to end at tiny sizes and writes its JSON and Markdown table."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root holds benchmarks/

from benchmarks.__main__ import BENCHMARKS, main, run_named  # noqa: E402
from benchmarks.runner import Settings  # noqa: E402


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> dict[str, tuple[str, dict, Path]]:
    """Each benchmark run once at tiny sizes: its Markdown, its JSON payload and its folder."""
    out = tmp_path_factory.mktemp("results")
    runs = {}
    for name in BENCHMARKS:
        text = run_named(name, Settings(repeats=1, tiny=True), out_dir=out)
        runs[name] = (text, json.loads((out / f"{name}.json").read_text()), out)
    return runs


@pytest.mark.parametrize("name", sorted(BENCHMARKS))
def test_benchmark_writes_its_table_and_machine(name, written):
    text, payload, out = written[name]
    assert payload["benchmark"] == name
    assert payload["rows"], "a benchmark must report at least one row"
    assert payload["machine"]["cpu_count"] >= 1 and payload["machine"]["torch"]
    assert "| " + " | ".join(payload["columns"]) + " |" in text
    assert (out / f"{name}.md").read_text() == text


def test_throughput_ratios_are_consistent(written):
    for row in written["throughput"][1]["rows"]:
        assert row["(b)/(a)"] == pytest.approx(row["(b) retain img/s"] / row["(a) bare img/s"])
        assert row["(b)/(c)"] == pytest.approx(row["(b) retain img/s"] / row["(c) per-sample img/s"])
        assert 0 < row["data path share of (b)"]


def test_task_stages_add_up(written):
    rows = {row["stage"]: row for row in written["task"][1]["rows"]}
    parts = sum(rows[s]["seconds (median)"] for s in rows if s != "total")
    assert parts == pytest.approx(rows["total"]["seconds (median)"], rel=1e-6)  # one repeat: no median mixing


def test_vectorised_herding_matches_the_plain_formula(written):
    herding = next(r for r in written["memory"][1]["rows"] if r["operation"].startswith("herding"))
    assert herding["same result"] == "yes"


def test_cli_rejects_an_unknown_benchmark():
    with pytest.raises(SystemExit):
        main(["nonsense"])
