"""`retain report` on a sweep reports the cells of its grid as they ran: a missing cell is named,
cells.json's axes edited by hand (entries swapped) and a cell's config.yaml edited are refused,
before anything is written."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest
import yaml

from retain.errors import RetainError
from retain.reports.report import write_report
from retain.sweeps.sweep import run_sweep

BASE = {"preset": "demo", "scenario": {"num_tasks": 2}, "train": {"epochs": 1}, "memory": {"budget": None},
        "method": {"name": "finetune"}, "logging": {"report": False, "tensorboard": False}}


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    root = tmp_path_factory.mktemp("report-cells")
    grid = root / "grid.yaml"
    grid.write_text(yaml.safe_dump({"base": BASE, "axes": {"train.lr": [0.05, 0.01]}, "out": str(root / "sweep")}))
    run_sweep(grid)
    return root / "sweep"


def _copy(sweep, tmp_path):
    target = tmp_path / "sweep"
    shutil.copytree(sweep, target)
    return target


def _files(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_a_deleted_cell_is_named_in_the_console_and_the_report(sweep, tmp_path, caplog):
    target = _copy(sweep, tmp_path)
    cells = json.loads((target / "cells.json").read_text())
    shutil.rmtree(target / cells[1]["dir"])
    with caplog.at_level(logging.WARNING, logger="retain"):
        report = write_report(target, figures=False)
    assert f"cell {cells[1]['name']!r}" in caplog.text and "is missing" in caplog.text
    text = report.read_text()
    assert "**Missing**" in text and cells[1]["name"] in text and "1 run(s)" in text


def test_swapped_axes_in_cells_json_are_refused_naming_the_cell(sweep, tmp_path):
    target = _copy(sweep, tmp_path)
    cells = json.loads((target / "cells.json").read_text())
    cells[0]["axes"], cells[1]["axes"] = cells[1]["axes"], cells[0]["axes"]
    (target / "cells.json").write_text(json.dumps(cells))
    before = _files(target)
    with pytest.raises(RetainError, match=r"labelled train.lr=0.01 in cells.json, but its results.json ran train.lr=0.05"):
        write_report(target, figures=False)
    assert _files(target) == before


def test_a_cell_config_yaml_edited_is_refused_as_resume_refuses_it(sweep, tmp_path):
    target = _copy(sweep, tmp_path)
    cells = json.loads((target / "cells.json").read_text())
    path = target / cells[0]["dir"] / "config.yaml"
    path.write_text(path.read_text().replace("lr: 0.05", "lr: 0.5"))
    before = _files(target)
    with pytest.raises(RetainError, match=r"config.yaml' does not describe the run .*results.json.* records"):
        write_report(target, figures=False)
    assert _files(target) == before


def test_an_untouched_sweep_reports_every_cell(sweep, tmp_path):
    target = _copy(sweep, tmp_path)
    assert "2 run(s), 2 complete" in write_report(target, figures=False).read_text()


def test_a_variant_axis_labels_its_groups_by_the_variant_s_name():
    from retain.reports.report import RunRecord, _assign_groups

    def record(seed, variant):
        results = {"method": "maer", "task_classes": [[0, 1], [2, 3]], "dataset": "fashion-mnist", "ledger": [{}]}
        return RunRecord(Path(f"cell-{seed}-{variant['name']}"), results, {"seed": seed, "memory.budget": "100 images",
                                                                           "variant": variant})
    records = [record(seed, variant) for seed in (1, 2) for variant in
               ({"name": "min", "method": {"maer_policy": "min"}}, {"name": "plain", "memory": {"policy": "reservoir"}})]
    _assign_groups(records)
    assert [r.group for r in records] == ["variant=min", "variant=plain"] * 2
