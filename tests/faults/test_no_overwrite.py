"""Nothing is overwritten and nothing trains on nothing: --out must be new (or empty), a sweep's cells are
identified by their resolved config, two axes never set one field, and runs that would train nothing are refused."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml
from typer.testing import CliRunner

from fault_workspace import SMALL
from retain.cli import app
from retain.errors import ConfigError
from retain.runs.config import build_config
from retain.reports.report import collect_runs
from retain.runs.loop import run
from retain.sweeps.sweep import run_sweep


def _tree(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file() and p.name != ".retain.lock"}


def _sweep_dir(workspace, root):
    """A sweep directory whose one cell (seed=0) is the workspace's finished small run."""
    sweep = root / "sweep"
    shutil.copytree(workspace / "done", sweep / "seed=0")
    (sweep / "grid.yaml").write_text("axes: {seed: [0]}\n")
    (sweep / "cells.json").write_text(json.dumps([{"name": "seed=0", "dir": "seed=0", "axes": {"seed": 0}}]))
    (sweep / "report.md").write_text("# the sweep's report\n")
    return sweep


def _small_tree(*extra: str) -> dict:
    tree: dict = {"preset": "demo"}
    for item in [*SMALL, *extra]:
        key, value = item.split("=", 1)
        node = tree
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = yaml.safe_load(value)
    return tree


@pytest.mark.parametrize("kind", ["sweep", "unrelated", "other-run"])
def test_a_run_into_a_directory_that_holds_anything_is_refused_and_nothing_changes(workspace, tmp_path, kind):
    if kind == "sweep":
        out = _sweep_dir(workspace, tmp_path)
        needle = "is a sweep directory"
    elif kind == "unrelated":
        out = tmp_path / "notes"
        out.mkdir()
        (out / "thesis.tex").write_text("\\section{Results}\n")
        needle = "thesis.tex"
    else:
        out = tmp_path / "other"
        shutil.copytree(workspace / "done", out)
        needle = "already holds a run"
    before = _tree(out)
    result = CliRunner().invoke(app, ["run", "--preset", "demo", "--set", "method.name=finetune", "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert needle in " ".join(result.output.split())
    assert _tree(out) == before


def test_an_empty_directory_is_a_new_run_directory(tmp_path):
    (tmp_path / "empty").mkdir()
    results = run(build_config(preset="demo", overrides=[*SMALL, "scenario.num_tasks=2", "train.epochs=1"]), out=tmp_path / "empty")
    assert results["complete"]


def test_a_sweep_whose_base_changed_is_refused_naming_the_cell_and_the_setting(workspace, tmp_path):
    sweep = _sweep_dir(workspace, tmp_path)
    before = _tree(sweep)
    grid = tmp_path / "grid.yaml"
    grid.write_text(yaml.safe_dump({"base": _small_tree("train.lr=0.07"), "axes": {"seed": [0]}, "out": str(sweep)}))
    with pytest.raises(ConfigError) as info:
        run_sweep(grid)
    message = str(info.value)
    assert "seed=0" in message and "train.lr" in message and "another configuration" in message
    assert _tree(sweep) == before


def test_a_sweep_into_a_run_directory_or_a_folder_of_other_files_is_refused(workspace, tmp_path):
    grid = tmp_path / "grid.yaml"
    for out, needle in [(workspace / "done", "is a run directory"), (tmp_path / "notes", "thesis.tex")]:
        if out.name == "notes":
            out.mkdir()
            (out / "thesis.tex").write_text("x")
        before = _tree(out)
        grid.write_text(yaml.safe_dump({"base": _small_tree(), "axes": {"seed": [0]}, "out": str(out)}))
        with pytest.raises(ConfigError, match=needle):
            run_sweep(grid)
        assert _tree(out) == before


def test_two_axes_that_set_one_field_are_refused(tmp_path):
    grid = tmp_path / "grid.yaml"
    for axes in [{"method": ["finetune"], "method.name": ["replay"]},
                 {"budget": ["10 images"], "memory.budget": ["20 images"]},
                 {"train.lr": [0.1], "variant": [{"name": "slow", "train": {"lr": 0.01}}]}]:
        grid.write_text(yaml.safe_dump({"base": {"preset": "demo"}, "axes": axes, "out": str(tmp_path / "sweep")}))
        with pytest.raises(ConfigError, match="both set"):
            run_sweep(grid)
    assert not (tmp_path / "sweep").exists()


def test_a_sweep_report_holds_only_the_cells_of_its_grid(workspace, tmp_path):
    sweep = _sweep_dir(workspace, tmp_path)
    shutil.copytree(workspace / "done", sweep / "seed=7")  # left by an older grid: not in cells.json
    records = collect_runs(sweep)
    assert [r.path.name for r in records] == ["seed=0"]


def test_a_setting_without_effect_in_a_grid_cell_is_refused(tmp_path):
    grid = tmp_path / "grid.yaml"
    grid.write_text(yaml.safe_dump({"base": {"preset": "demo", "scenario": {"order_seed": 5}},
                                    "axes": {"scenario.order": ["shuffle", "natural"]}, "out": str(tmp_path / "sweep")}))
    with pytest.raises(ConfigError, match="scenario.order_seed"):
        run_sweep(grid)
    assert not (tmp_path / "sweep").exists()


@pytest.mark.parametrize("sets, needles", [
    (["train.first_epochs=0"], ["train.first_epochs = 0", "task 1"]),
    (["train.epochs=0"], ["train.epochs = 0"]),
    (["train.batch_size=2", "distributed.nproc=3"], ["train.batch_size = 2", "distributed.nproc = 3", "no rows"]),
])
def test_a_run_that_would_train_nothing_is_refused_before_it_starts(tmp_path, sets, needles):
    out = tmp_path / "run"
    argv = ["run", "--preset", "demo", "--out", str(out)]
    for item in sets:
        argv += ["--set", item]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert all(needle in text for needle in needles), text
    assert not out.exists()
