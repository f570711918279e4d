"""A 2-worker sweep whose driver dies (kill -9, SIGTERM) leaves no worker behind, and running it
again finishes every cell exactly once; the `preset` axis changes the preset of each cell."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

from fault_runs import env
from retain.sweeps.sweep import expand_cells, load_grid, run_sweep

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the process table from /proc")

BASE = {"preset": "demo", "scenario": {"num_tasks": 2}, "train": {"epochs": 2}, "checkpoint": {"every_epochs": 1},
        "logging": {"report": False, "tensorboard": False}}


def _children(pid: int) -> set[int]:
    """Processes whose parent is `pid` (from /proc)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _events(sweep_dir: Path) -> list[dict]:
    path = sweep_dir / "log.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _grid(tmp_path: Path, seeds: int) -> Path:
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump({"base": BASE, "axes": {"method": ["finetune", "replay"], "seed": list(range(seeds))},
                                    "out": str(tmp_path / "sweep"), "workers": 2}))
    return path


def _start_and_stop(grid: Path, sweep_dir: Path, how: signal.Signals) -> set[int]:
    """Start the sweep driver, let a cell finish, stop the driver with `how`; return its former worker pids."""
    driver = subprocess.Popen([sys.executable, "-m", "retain", "sweep", str(grid), "-q"], env=env(),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    workers: set[int] = set()
    while time.monotonic() < deadline and driver.poll() is None:
        workers |= {pid for pid in _children(driver.pid) if "retain.sweeps.workers" in Path(f"/proc/{pid}/cmdline").read_text(errors="replace")}
        if any(e["event"] == "finished" for e in _events(sweep_dir)) and len(workers) >= 2:
            break
        time.sleep(0.05)
    assert driver.poll() is None, f"the sweep ended before it could be stopped: {driver.communicate()[1][-2000:]}"
    driver.send_signal(how)
    driver.wait(timeout=60)
    return workers


@pytest.mark.parametrize("how", [signal.SIGKILL, pytest.param(signal.SIGTERM, marks=pytest.mark.slow)])
def test_a_killed_two_worker_sweep_leaves_no_orphan_and_reruns_every_cell_once(tmp_path, how):
    grid = _grid(tmp_path, seeds=3)
    sweep_dir = tmp_path / "sweep"
    workers = _start_and_stop(grid, sweep_dir, how)
    assert len(workers) == 2
    deadline = time.monotonic() + 20
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in workers if _alive(pid)], "workers outlived their driver"
    finished_first = Counter(e["cell"] for e in _events(sweep_dir) if e["event"] == "finished")
    assert 1 <= sum(finished_first.values()) < 6

    summary = run_sweep(grid)
    assert not summary.failed and len(summary.finished) + len(summary.skipped) == 6
    cells = {c.name for c in expand_cells(load_grid(grid), grid, sweep_dir)}
    finished = Counter(e["cell"] for e in _events(sweep_dir) if e["event"] == "finished")
    assert set(finished) == cells and set(finished.values()) == {1}  # every cell's end recorded exactly once
    for cell in cells:
        assert json.loads((sweep_dir / cell / "results.json").read_text())["complete"]


def test_the_preset_axis_sets_each_cells_preset(tmp_path):
    grid = tmp_path / "grid.yaml"
    grid.write_text(yaml.safe_dump({"base": {"train": {"epochs": 1}}, "axes": {"preset": ["demo", "fmnist-b0-inc2"]}}))
    cells = expand_cells(load_grid(grid), grid, tmp_path / "sweep")
    by_preset = {c.axes["preset"]: c.config for c in cells}
    assert by_preset["demo"]["data"]["name"] == "digits" and by_preset["demo"]["method"]["name"] == "icarl"
    assert by_preset["fmnist-b0-inc2"]["data"]["name"] == "fashion-mnist"
    assert by_preset["fmnist-b0-inc2"]["preset"] == "fmnist-b0-inc2"
    assert all(c.config["train"]["epochs"] == 1 for c in cells)  # the base still applies over the preset


def test_a_second_sweep_driver_is_refused(tmp_path):
    from retain.errors import ConfigError
    from retain.runs.directory import RunDirLock

    grid = _grid(tmp_path, seeds=1)
    with RunDirLock(tmp_path / "sweep", what="sweep directory"), pytest.raises(ConfigError, match="sweep directory .* being written"):
        run_sweep(grid)
    assert not (tmp_path / "sweep" / "log.jsonl").exists()
