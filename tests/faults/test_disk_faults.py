"""A disk that fills up during a run, and a read-only one: a clear message (with the resume command
for a full disk), nothing half-written, and the run resumes to the same matrix once there is room.

Needs a small filesystem of its own: a tmpfs, which only root can mount; skipped otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid

import pytest
from typer.testing import CliRunner

from fault_runs import leftovers, one_thread, results, small_args
from fault_workspace import SMALL
from retain.cli import app
from retain.runs.config import build_config
from retain.runs.loop import run


def _mount(path, options: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], check=True, capture_output=True)


@pytest.fixture
def small_disk(tmp_path):
    """A 300 KiB tmpfs (room for the config and the first checkpoints of the small run, not all of it)."""
    if not sys.platform.startswith("linux") or os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs Linux and root")
    path = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
    try:
        _mount(path, "size=300k")
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"cannot mount a tmpfs here: {exc.stderr.decode().strip()}")
    yield path
    subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)


def test_a_full_disk_stops_the_run_with_the_resume_command_and_the_run_resumes(small_disk, tmp_path):
    reference = tmp_path / "reference"
    with one_thread():
        run(build_config(preset="demo", overrides=SMALL), out=reference)
    out = small_disk / "run"
    with one_thread():
        full = CliRunner().invoke(app, ["run", *small_args(), "--out", str(out)])
    message = " ".join(full.output.split())
    assert full.exit_code == 2, full.output
    assert full.exception is None or isinstance(full.exception, SystemExit)  # no traceback
    assert "No space left on device" in message and f"retain run --resume {out}" in message
    assert leftovers(out) == []  # the write that failed left no temporary file

    subprocess.run(["mount", "-o", "remount,size=20m", str(small_disk)], check=True)  # space freed
    with one_thread():
        resumed = CliRunner().invoke(app, ["run", "--resume", str(out)])
    assert resumed.exit_code == 0, resumed.output
    assert results(out)["accuracy_matrix"] == results(reference)["accuracy_matrix"]


def test_a_read_only_disk_is_refused_before_anything_is_written(small_disk, tmp_path):
    (tmp_path / "results.json").write_text(json.dumps({
        "method": "replay", "seed": 0, "accuracy_matrix": [[90.0]], "stage_accuracy": [90.0], "task_classes": [[0, 1]],
        "metrics": {"average_incremental_accuracy": 90.0, "last_accuracy": 90.0}}))
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    for argv in (["run", "--out", str(small_disk / "run")], ["report", "--out", str(small_disk / "r"), str(tmp_path)],
                 ["memorization", "--data", "digits", "--models", "2", "--out", str(small_disk / "m.npy")]):
        result = CliRunner().invoke(app, argv)
        assert result.exit_code == 2, (argv, result.output)
        assert result.exception is None or isinstance(result.exception, SystemExit)
        assert str(small_disk) in " ".join(result.output.split())
    assert list(small_disk.iterdir()) == []
