"""`retain.sweep(...)` at the top level of a plain script (no `if __name__ == "__main__":` guard),
as README and docs/extending.md show it: with local workers and with Ray, run in a subprocess
as a user runs it. Before the workers were fresh interpreters, spawn re-ran the script in each
worker, every cell failed with "worker process died" and the script exited 0."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

SRC = Path(__file__).resolve().parents[2] / "src"
GRID = {"base": {"preset": "demo", "scenario": {"num_tasks": 2}, "train": {"epochs": 1, "threads": 1},
                 "logging": {"tensorboard": False}},
        "axes": {"method": ["finetune"], "seed": [0, 1]}}
CELLS = ["method=finetune__seed=0", "method=finetune__seed=1"]


def _run_script(tmp_path: Path, body: str, grid: dict = GRID) -> subprocess.CompletedProcess:
    (tmp_path / "grid.yaml").write_text(yaml.safe_dump({**grid, "out": "sweep"}))
    script = tmp_path / "my_sweep.py"
    script.write_text(textwrap.dedent(body))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)


def _check_finished(tmp_path: Path, out: subprocess.CompletedProcess) -> None:
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == CELLS
    events = [json.loads(line) for line in (tmp_path / "sweep" / "log.jsonl").read_text().splitlines()]
    assert sorted(e["cell"] for e in events if e["event"] == "finished") == CELLS
    assert not [e for e in events if e["event"] == "failed"]
    assert "another retain process" not in out.stderr


def test_a_plain_script_sweeps_with_local_workers(tmp_path):
    out = _run_script(tmp_path, """
        import json
        import retain

        summary = retain.sweep("grid.yaml", workers=2)
        print(json.dumps(sorted(summary.finished)))
    """)
    _check_finished(tmp_path, out)


def test_a_plain_script_sweeps_with_ray(tmp_path):
    pytest.importorskip("ray")
    out = _run_script(tmp_path, """
        import json
        import ray
        import retain

        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        summary = retain.sweep("grid.yaml", executor="ray")
        print(json.dumps(sorted(summary.finished)))
    """)
    _check_finished(tmp_path, out)


BROKEN_METHOD = """
from retain.methods.base import Method, register_method


@register_method("broken")
class Broken(Method):
    \"\"\"Fails when its first task starts.\"\"\"

    def before_task(self, task):
        raise RuntimeError("broken on purpose")
"""


def test_a_script_whose_cells_fail_exits_non_zero(tmp_path):
    (tmp_path / "broken.py").write_text(BROKEN_METHOD)
    grid = {"base": {**GRID["base"], "imports": ["broken.py"]}, "axes": {"method": ["broken"], "seed": [0, 1]}}
    out = _run_script(tmp_path, """
        import retain

        retain.sweep("grid.yaml", workers=2)
        print("not reached")
    """, grid)
    assert out.returncode != 0 and "not reached" not in out.stdout
    assert "retain.errors.SweepError: 2 of 2 cells" in out.stderr and "broken on purpose" in out.stderr
