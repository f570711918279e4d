"""The tutorial's plugins (examples/, docs/extending.md) through every entry point a user has.

They run in fresh processes, as a user runs them: `retain run` with the config's `imports`,
`--import`, `--resume`, `retain sweep` with two local workers and with Ray workers, and the
`retain.plugins` entry point of an installed package (a fake distribution on PYTHONPATH).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
PLUGIN_FILES = sorted((EXAMPLES / "retain_examples").glob("*.py"))
# Small settings of the shapes runs: the mechanism is under test here, not LwF's accuracy.
SMALL = ["--set", "data.options={train_per_class: 60, test_per_class: 20}", "--set", "train.epochs=1",
         "--set", "model.options.width=4", "--set", "logging.tensorboard=false", "--set", "logging.report=false"]


def _retain(*args, cwd, env=None):
    return subprocess.run([sys.executable, "-m", "retain", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=600, env=env)


def _ok(proc):
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def _results(run_dir):
    return json.loads((Path(run_dir) / "results.json").read_text())


def test_the_tutorial_shows_exactly_the_files_of_the_example_package():
    text = (ROOT / "docs" / "extending.md").read_text()
    blocks = re.findall(r"<!-- example: (\S+) -->\n```\w+\n(.*?)```\n", text, flags=re.S)
    shown = {path for path, _ in blocks}
    expected = {str(p.relative_to(ROOT)) for p in PLUGIN_FILES} | {"examples/pyproject.toml", "examples/lwf.yaml"}
    assert expected <= shown
    for path, code in blocks:
        assert code == (ROOT / path).read_text(), f"docs/extending.md shows an outdated {path}"


def test_lwf_from_a_file_import_keeps_more_of_the_old_tasks_than_finetune(tmp_path):
    # LwF's distillation is what keeps old classes: without it, this is fine-tuning, which on
    # digits forgets every earlier task (average incremental accuracy about 46 % at every seed).
    lwf_file = EXAMPLES / "retain_examples" / "lwf.py"
    common = ["--set", "train.epochs=8", "--set", "logging.tensorboard=false", "--set", "logging.report=false", "-q"]
    _ok(_retain("run", "--import", lwf_file, "--set", "method.name=lwf", "--out", "lwf", *common, cwd=tmp_path))
    _ok(_retain("run", "--set", "method.name=finetune", "--out", "ft", *common, cwd=tmp_path))
    lwf, finetune = _results(tmp_path / "lwf"), _results(tmp_path / "ft")
    assert lwf["method"] == "lwf" and lwf["config"]["imports"] == [str(lwf_file)]
    assert lwf["metrics"]["average_incremental_accuracy"] > finetune["metrics"]["average_incremental_accuracy"] + 8
    assert lwf["metrics"]["forgetting"] < finetune["metrics"]["forgetting"] - 10


def test_the_example_config_runs_and_resumes_in_a_new_process(tmp_path):
    # The run directory holds only config.yaml (the run stopped before its first checkpoint):
    # `--resume` must load the plugins from it before it can even read the method's name.
    proc = _ok(_retain("run", EXAMPLES / "lwf.yaml", *SMALL, "--dry-run", cwd=tmp_path))
    assert "horizontal bar" in proc.stdout and "tiny" not in proc.stderr
    from retain.runs.config import build_config, config_to_dict

    overrides = [SMALL[i + 1] for i in range(0, len(SMALL), 2)]
    config = config_to_dict(build_config(EXAMPLES / "lwf.yaml", overrides=overrides))
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.yaml").write_text(yaml.safe_dump(config))
    _ok(_retain("run", "--resume", "run", "-q", cwd=tmp_path))
    results = _results(tmp_path / "run")
    assert results["complete"] and results["method"] == "lwf" and results["dataset"] == "shapes"
    assert results["stage_accuracy"][0] > 50  # two shapes told apart after one epoch (chance: 50)


@pytest.fixture
def small_grid(tmp_path):
    """A grid whose base names the plugin files relative to the grid file, run from another folder."""
    grids = tmp_path / "grids"
    grids.mkdir()
    relative = [os.path.relpath(p, grids) for p in PLUGIN_FILES if p.name != "__init__.py"]
    base = yaml.safe_load((EXAMPLES / "lwf.yaml").read_text())
    base.update(imports=relative, train={"epochs": 1, "batch_size": 32, "lr": 0.05},
                data={"name": "shapes", "options": {"train_per_class": 60, "test_per_class": 20}},
                model={"backbone": "tiny-cnn", "options": {"width": 4}}, logging={"tensorboard": False})
    grid = {"base": base, "axes": {"method": ["lwf", {"name": "replay"}], "memory.policy": ["kcenter"]}}
    (grids / "grid.yaml").write_text(yaml.safe_dump(grid, sort_keys=False))
    (tmp_path / "work").mkdir()
    return grids / "grid.yaml", tmp_path / "work"


def test_a_sweep_with_two_worker_processes_loads_the_plugins_in_each(small_grid):
    grid, work = small_grid
    proc = _ok(_retain("sweep", grid, "--workers", "2", "--out", "local", cwd=work))
    assert "2 finished, 0 already complete, 0 failed" in proc.stdout
    replay = _results(work / "local" / "method=replay__memory.policy=kcenter")
    assert replay["method"] == "replay" and replay["config"]["memory"]["policy"] == "kcenter"
    assert sum(replay["ledger"][-1]["exemplars_per_class"].values()) > 0  # the plugin policy filled the memory
    assert _results(work / "local" / "method=lwf__memory.policy=kcenter")["method"] == "lwf"


def test_a_sweep_on_ray_workers_loads_the_plugins(small_grid):
    pytest.importorskip("ray")
    grid, work = small_grid
    proc = _ok(_retain("sweep", grid, "--executor", "ray", "--out", "ray", cwd=work))
    assert "2 finished, 0 already complete, 0 failed" in proc.stdout
    assert _results(work / "ray" / "method=lwf__memory.policy=kcenter")["complete"]


def test_an_installed_package_is_loaded_through_its_entry_point(tmp_path):
    # What `pip install ./examples` leaves in site-packages, without running pip: the package
    # on the path and a dist-info folder declaring the retain.plugins entry point.
    site = tmp_path / "site"
    info = site / "retain_examples-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: retain-examples\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text('[retain.plugins]\nexamples = retain_examples\n')
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(EXAMPLES), str(ROOT / "src")])}
    listing = _ok(_retain("list", cwd=tmp_path, env=env)).stdout
    for name in ("lwf", "kcenter", "tiny-cnn", "shapes"):
        assert re.search(rf"\b{re.escape(name)}\b", listing), name
    config = {"data": {"name": "shapes"}, "model": {"backbone": "tiny-cnn"}, "method": {"name": "lwf"},
              "scenario": {"increment": 2, "order": "natural"}}
    (tmp_path / "plain.yaml").write_text(yaml.safe_dump(config))  # no imports: the entry point did it
    proc = _ok(_retain("run", "plain.yaml", "--dry-run", cwd=tmp_path, env=env))
    assert "square" in proc.stdout and "cross" in proc.stdout
    without = _retain("run", "plain.yaml", "--dry-run", cwd=tmp_path)  # not installed: a clean error
    assert without.returncode == 2 and "Traceback" not in without.stderr
    assert "Unknown method (method.name) 'lwf'" in " ".join(without.stderr.split())


def test_a_failing_import_on_the_command_line_names_the_module(tmp_path):
    proc = _retain("list", "--import", "my_missing_plugin.lwf", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "'my_missing_plugin.lwf'" in proc.stderr and "was not found" in proc.stderr


# ---------------------------------------------------------------------- the example code itself
def _load(name):
    from retain.plugins import import_plugin

    return import_plugin(str(EXAMPLES / "retain_examples" / f"{name}.py"))


def test_kcenter_picks_the_far_points_first_and_never_twice():
    _load("kcenter")
    from retain.memory.policies import build_policy

    near = torch.randn(20, 3, generator=torch.Generator().manual_seed(0)) * 0.01
    far = torch.tensor([[5.0, 0, 0], [0, 5.0, 0], [0, 0, 5.0]])
    points = torch.cat([near, far])
    order = build_policy("kcenter").order(len(points), torch.Generator().manual_seed(1), features=points, limit=4)
    assert len(order) == 4 and len(set(order.tolist())) == 4
    assert {20, 21, 22} <= set(order.tolist())  # the three outliers, whichever point came first
    full = build_policy("kcenter").order(len(points), None, features=points)
    assert sorted(full.tolist()) == list(range(len(points)))


def test_lwf_loss_is_new_class_cross_entropy_plus_weighted_distillation():
    _load("lwf")
    import torch.nn.functional as F

    from retain import Batch, kd_loss
    from retain.runs.loop import build_setup
    from retain.runs.config import validate_config

    config = validate_config({"method": {"name": "lwf", "distill_weight": 2.5, "temperature": 3.0},
                              "model": {"backbone": "mlp", "options": {"hidden": [16]}}, "train": {"epochs": 1}})
    setup = build_setup(config)
    method, tasks = setup.method, setup.plan.tasks
    method.before_task(tasks[0])
    assert method.teacher is None
    method.before_task(tasks[1])
    with torch.no_grad():  # make the student differ from its teacher
        for parameter in method.network.parameters():
            parameter.add_(0.05)
    rows = torch.as_tensor(tasks[1].train_indices[:8])
    images = setup.ctx.augmenter.eval(setup.dataset.train.images[rows])
    labels = setup.dataset.train.labels[rows]
    batch = Batch(images=images, labels=labels, raw=setup.dataset.train.images[rows],
                  from_memory=torch.zeros(8, dtype=torch.bool), indices=rows)
    loss, terms = method.training_loss(batch)
    logits = method.network(images)["logits"]
    old = logits[:, :2]
    expected = F.cross_entropy(logits[:, 2:], labels - 2) + 2.5 * kd_loss(old, method.teacher(images)["logits"][:, :2], 3.0)
    torch.testing.assert_close(loss, expected)
    assert float(terms["kd"]) > 0


def test_the_tiny_cnn_options_are_checked_and_the_shapes_are_drawn_as_declared():
    _load("tiny_cnn")
    _load("shapes")
    from retain.data import load_dataset
    from retain.errors import ConfigError
    from retain.models import build_backbone

    with pytest.raises(ConfigError, match="Did you mean 'width'"):
        build_backbone("tiny-cnn", 1, 16, widht=8)
    assert build_backbone("tiny-cnn", 1, 16, width=8)(torch.zeros(2, 1, 16, 16)).shape == (2, 16)
    dataset = load_dataset("shapes", options={"train_per_class": 10, "test_per_class": 5})
    assert dataset.image_shape == (1, 16, 16) and dataset.class_names[1] == "ring"
    assert torch.bincount(dataset.train.labels).tolist() == [10] * 6
    assert dataset.train.images.dtype == torch.uint8
    # A square covers more pixels than a ring of the same radius: the classes really differ.
    bright = (dataset.train.images > 120).flatten(1).sum(1).float()
    assert bright[dataset.train.labels == 0].mean() > bright[dataset.train.labels == 1].mean()
