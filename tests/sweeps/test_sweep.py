"""Sweeps: grid expansion, an interrupted 2x2x2 grid continued to exactly one finish per cell, its report."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
import yaml

from retain.errors import ConfigError
from retain.reports.report import LEADING_COLUMNS, METRIC_COLUMNS, write_report
from retain.sweeps.sweep import expand_cells, load_grid, run_sweep

BASE = {"preset": "demo", "scenario": {"num_tasks": 3}, "train": {"epochs": 3},
        "checkpoint": {"every_epochs": 1}, "logging": {"report": False}}
AXES = {"method": ["finetune", "replay"], "budget": ["40 images", "80 images"], "seed": [0, 1]}


def _grid(tmp_path, axes=AXES, **extra):
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump({"base": BASE, "axes": axes, "out": str(tmp_path / "sweep"), **extra}, sort_keys=False))
    return path


def _events(sweep_dir):
    return [json.loads(line) for line in (sweep_dir / "log.jsonl").read_text().splitlines()]


def test_cells_are_the_product_of_the_axes(tmp_path):
    path = _grid(tmp_path)
    cells = expand_cells(load_grid(path), path, tmp_path / "sweep")
    assert len(cells) == 8
    assert cells[0].name == "method=finetune__budget=40-images__seed=0"
    assert {(c.config["method"]["name"], c.config["memory"]["budget"], c.config["seed"]) for c in cells} == {
        (m, b, s) for m in AXES["method"] for b in AXES["budget"] for s in AXES["seed"]
    }
    assert all(c.config["train"]["epochs"] == 3 and c.config["preset"] == "demo" for c in cells)


def test_bad_grids_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="`axes.seed` .* empty list"):
        load_grid(_grid(tmp_path, axes={"seed": []}))
    with pytest.raises(ConfigError, match="`colour` is not a known setting"):
        load_grid(_grid(tmp_path, colour="red"))
    path = _grid(tmp_path, axes={"train.epochs": [1, "one"]})
    with pytest.raises(ConfigError, match="Grid cell .*train.epochs"):
        expand_cells(load_grid(path), path, tmp_path / "sweep")
    path = _grid(tmp_path, axes={"train.lr": [0.1, "0.1"]})
    with pytest.raises(ConfigError, match="same directory name"):
        expand_cells(load_grid(path), path, tmp_path / "sweep")
    with pytest.raises(ConfigError, match="has no axes"):
        load_grid(_grid(tmp_path, axes={}))
    path = _grid(tmp_path, axes={"seed": [1.0, 1]})  # two names, one run
    with pytest.raises(ConfigError, match="resolve to the same configuration"):
        expand_cells(load_grid(path), path, tmp_path / "sweep")


def test_interrupted_grid_continues_and_every_cell_finishes_once(tmp_path):
    path = _grid(tmp_path)
    sweep_dir = tmp_path / "sweep"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    driver = subprocess.Popen([sys.executable, "-m", "retain", "sweep", str(path), "-q"], env=env)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and driver.poll() is None:
        if (sweep_dir / "log.jsonl").exists() and sum(e["event"] == "finished" for e in _events(sweep_dir)) >= 3:
            break
        time.sleep(0.05)
    assert driver.poll() is None, "the sweep ended before it could be interrupted"
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    first = Counter(e["event"] for e in _events(sweep_dir))
    assert 3 <= first["finished"] < 6

    summary = run_sweep(path)
    # finetune keeps no memory: its cells at 80 images would repeat those at 40 and are not run.
    assert summary.repeats == {f"method=finetune__budget=80-images__seed={s}": f"method=finetune__budget=40-images__seed={s}"
                               for s in (0, 1)}
    assert len(summary.skipped) == first["finished"] and len(summary.finished) == 6 - first["finished"]
    events = _events(sweep_dir)
    finished = Counter(e["cell"] for e in events if e["event"] == "finished")
    cells = [c.name for c in expand_cells(load_grid(path), path, sweep_dir)]
    assert sorted(finished) == sorted(name for name in cells if name not in summary.repeats)
    assert set(finished.values()) == {1}
    assert not (sweep_dir / "method=finetune__budget=80-images__seed=0").exists()
    assert {e["cell"] for e in events if e["event"] == "repeat"} == set(summary.repeats)
    # Real start and end times: cells ran one after another, so each started after the previous ended.
    ran = [e for e in events if e["event"] == "finished" and e.get("mode") == "new" and "started_at" in e]
    assert len(ran) >= 2
    for e in ran:
        assert e["started_at"] < e["ended_at"] <= e["time"]
        assert e["ended_at"] - e["started_at"] == pytest.approx(e["seconds"], abs=0.5)
    ran.sort(key=lambda e: e["started_at"])
    assert all(b["started_at"] >= a["ended_at"] for a, b in zip(ran, ran[1:]))
    starts = [e for e in events if e["event"] == "start"]
    assert len({round(e["time"], 3) for e in starts}) == len(starts)  # not all stamped at the same instant
    # A third run has nothing left to do.
    again = run_sweep(path)
    assert again.finished == [] and len(again.skipped) == 6

    # The report of the grid: Markdown, CSV (one row per run) and plots.
    report = write_report(sweep_dir)
    text = report.read_text()
    with open(sweep_dir / "runs.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 6
    assert set(LEADING_COLUMNS + METRIC_COLUMNS + ["axis:method", "axis:budget", "axis:seed"]) <= set(rows[0])
    assert {(r["method"], r["axis:budget"], r["seed"]) for r in rows} == {
        (m, b, str(s)) for m in AXES["method"] for b in AXES["budget"] for s in AXES["seed"]
        if m == "replay" or b == "40 images"
    }
    for row in rows:  # each row carries its own run's figures
        saved = json.loads((sweep_dir / row["run"] / "results.json").read_text())
        assert row["complete"] == "True" and saved["complete"]
        for key in ("last_accuracy", "average_incremental_accuracy", "forgetting"):
            assert float(row[key]) == pytest.approx(saved["metrics"][key])
    plots = sweep_dir / "plots"
    expected = ["accuracy_per_task.png", "accuracy_vs_memory.png",
                "accuracy_matrix-method-replay-budget-40-images.png", "memory.png"]
    for name in expected:
        assert (plots / name).stat().st_size > 1000
        assert f"plots/{name}" in text
    assert not list(plots.glob("memory-method-finetune*"))  # finetune keeps no memory
    assert "AUC-A" in text and "| method=replay |" in text


def test_ray_executor_runs_a_tiny_grid(tmp_path):
    import ray

    path = _grid(tmp_path, axes={"method": ["finetune"], "seed": [0, 1]})
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        summary = run_sweep(path, executor="ray")
    finally:
        ray.shutdown()
    assert sorted(summary.finished) == ["method=finetune__seed=0", "method=finetune__seed=1"]
    for name in summary.finished:
        assert json.loads((tmp_path / "sweep" / name / "results.json").read_text())["complete"]
    assert summary.report is not None and summary.report.exists()


def test_ray_missing_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    with pytest.raises(ConfigError, match=r"pip install 'retain\[ray\]'"):
        run_sweep(_grid(tmp_path), executor="ray")
    assert not (tmp_path / "sweep").exists()  # refused before anything was written


class _Ref:
    def __init__(self, value) -> None:
        self.value = value


class _FakeRay:
    """Just enough of Ray's API to see how the sweep starts it."""

    def __init__(self) -> None:
        self.init_kwargs: dict | None = None

    def is_initialized(self) -> bool:
        return self.init_kwargs is not None

    def init(self, **kwargs) -> None:
        self.init_kwargs = kwargs

    def remote(self, **_resources):
        return lambda function: type("Remote", (), {"remote": staticmethod(lambda *args: _Ref(function(*args)))})

    def wait(self, refs, num_returns):
        return refs[:num_returns], refs[num_returns:]

    def get(self, ref):
        return ref.value

    def shutdown(self) -> None:
        pass


def test_ray_keeps_the_verbosity_and_is_not_started_for_nothing(monkeypatch):
    import logging

    from retain.sweeps import sweep as sweep_module

    fake = _FakeRay()
    monkeypatch.setattr(sweep_module, "import_ray", lambda: fake)
    monkeypatch.setattr(sweep_module, "run_cell", lambda payload, threads: {"name": payload["name"]})
    assert list(sweep_module._ray([], None, 1, 0)) == [] and fake.init_kwargs is None  # no cell left: no Ray
    monkeypatch.setattr(logging.getLogger("ray"), "level", logging.WARNING)  # what -q or the default set
    assert list(sweep_module._ray([{"name": "a"}], None, 1, 0)) == [{"name": "a"}]
    assert fake.init_kwargs["logging_level"] == logging.WARNING  # Ray's INFO lines stay silent


def test_an_interrupted_sweep_names_the_command_that_continues_it_and_the_cells_it_resumes(tmp_path):
    """Ctrl-C on `retain sweep G --out D` must say to run it again *with* --out D (without it the
    sweep goes to the grid's own `out`), and the continued sweep says that a started cell resumes."""
    import shlex

    path = tmp_path / "grid.yaml"
    base = {**BASE, "scenario": {"num_tasks": 2}, "train": {"epochs": 2}, "logging": {"report": False, "tensorboard": False}}
    path.write_text(yaml.safe_dump({"base": base, "axes": {"seed": [0]}, "out": str(tmp_path / "sweep")}))
    elsewhere = tmp_path / "elsewhere"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    # Ctrl-C as a shell delivers it: a test earlier in the session can leave SIGINT ignored in this
    # process, and an ignored signal stays ignored in a child (the sweep then finished: exit 0).
    driver = subprocess.Popen([sys.executable, "-m", "retain", "sweep", str(path), "--out", str(elsewhere)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and driver.poll() is None:
        if any((cell / "checkpoints").is_dir() and any((cell / "checkpoints").glob("epoch-*.pt"))
               for cell in elsewhere.glob("seed=*")):
            break
        time.sleep(0.05)
    assert driver.poll() is None, "the sweep ended before it could be interrupted"
    driver.send_signal(signal.SIGINT)
    _, err = driver.communicate(timeout=120)
    assert driver.returncode == 130, err
    said = " ".join(err.split())
    assert "interrupted; run `" in said, said
    command = shlex.split(said.split("interrupted; run `", 1)[1].split("`", 1)[0])
    assert command[:3] == ["retain", "sweep", str(path)] and command[3:5] == ["--out", str(elsewhere)], command
    again = subprocess.run([sys.executable, "-m", *command], env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "1 resumed from their checkpoints" in " ".join((again.stdout + again.stderr).split())
    assert not (tmp_path / "sweep").exists()  # nothing went to the grid's own `out`
    assert all(json.loads((cell / "results.json").read_text())["complete"] for cell in elsewhere.glob("seed=*"))
