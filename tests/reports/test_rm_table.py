"""Rainbow Memory's table in one command: a shipped grid with a `variant` axis and `retain report`'s
A_last / F_last / I_last table (issue 13, item 4). Tiny digits runs stand in for the real grid."""

import numpy as np
import pytest
import yaml

from retain.errors import ConfigError
from retain.reports.report import write_report
from retain.sweeps.sweep import GRIDS_DIR, expand_cells, grid_names, load_grid, resolve_grid, run_sweep


def test_the_rm_grid_is_shipped_and_expands_to_every_row():
    path = resolve_grid("rm-blurry10-online")
    assert path.parent == GRIDS_DIR and "rm-blurry10-online" in grid_names()
    cells = expand_cells(load_grid(path), path, path.parent / "unused")
    rows = {(c.config["data"]["name"], c.axes["variant"]["name"]) for c in cells}
    names = ["joint", "ewc", "rwalk", "rwalk-rm-code", "icarl", "icarl-rm-code", "gdumb", "bic", "bic-rm-code",
             "rm-without-da", "rm"]
    assert rows == {(d, n) for d in ("fashion-mnist", "mnist") for n in names}
    assert len(cells) == len(rows) * 3  # three seeds
    assert all(c.config["data"]["name"] == "mnist" for c in cells[: len(cells) // 2])  # the headline runs first
    by_name = {c.axes["variant"]["name"]: c.config for c in cells}
    # RM's recipe (issue 23): no crop/flip, bias-free Linear + BN(ε 1e-6), RM's head for GDumb and joint only.
    for name, config in by_name.items():
        assert config["augment"]["crop_padding"] == 0 and not config["augment"]["flip"]
        assert config["model"]["options"]["bias"] is False and config["model"]["options"]["bn_eps"] == 1e-6
        assert config["train"]["drop_last"] is True
        assert config["model"]["head_norm"] == ("batchnorm" if name in ("gdumb", "joint") else "none")
        base = name.removesuffix("-rm-code")
        if base in ("rwalk", "icarl", "bic"):
            assert config["method"]["variant"] == ("rm-code" if name.endswith("rm-code") else "paper")
    assert by_name["rm"]["augment"]["cutmix"] and by_name["rm"]["augment"]["autoaugment"] == "cifar10"
    assert not by_name["rm-without-da"]["augment"]["cutmix"] and by_name["rm-without-da"]["method"]["name"] == "rainbow"
    assert all(c.config["scenario"] == cells[0].config["scenario"] for c in cells)
    assert cells[0].config["scenario"]["stream"] == "online" and cells[0].config["scenario"]["kind"] == "blurry"


def test_unknown_grid_names_are_refused():
    with pytest.raises(ConfigError, match="rm-blurry10-online"):
        resolve_grid("no-such-grid")


def test_report_writes_the_intransigence_table(tmp_path):
    grid = {
        "base": {"preset": "demo", "scenario": {"kind": "blurry", "num_tasks": 5, "stream": "online"},
                 "train": {"epochs": 1}, "logging": {"report": False}},
        "axes": {"seed": [1, 2], "variant": [{"name": "joint", "method": {"name": "joint"}},
                                             {"name": "er_mixed", "method": {"name": "er_mixed"}}]},
        "out": str(tmp_path / "sweep"),
    }
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(grid, sort_keys=False))
    summary = run_sweep(path)
    assert len(summary.finished) == 4 and not summary.failed
    report = write_report(tmp_path / "sweep").read_text()
    assert "| dataset | method | runs | A_last (%) | F_last | I_last |" in report
    rows = {line.split(" | ")[1]: line for line in report.splitlines() if line.startswith("| digits | ")}
    assert set(rows) == {"joint", "er_mixed"}
    import json

    cells = sorted((tmp_path / "sweep").glob("*/results.json"))
    runs = [p for p in cells if json.loads(p.read_text())["method"] == "er_mixed"]
    joints = [p for p in cells if json.loads(p.read_text())["method"] == "joint"]
    assert len(runs) == len(joints) == 2
    last = [json.loads(p.read_text())["metrics"]["last_accuracy"] for p in runs]
    upper = np.mean([json.loads(p.read_text())["metrics"]["last_accuracy"] for p in joints])
    gaps = [upper - a for a in last]
    assert f"{np.mean(gaps):.2f} ± {np.std(gaps, ddof=1):.2f}" in rows["er_mixed"]
    assert f"{np.mean(last):.2f} ± {np.std(last, ddof=1):.2f}" in rows["er_mixed"]
