"""A run killed with SIGKILL in the middle of a task resumes to the same accuracy matrix."""

import json
import os
import signal
import subprocess
import sys
import time

RUN = [sys.executable, "-m", "retain", "run", "--preset", "demo", "-q",
       "--set", "train.epochs=4", "--set", "scenario.num_tasks=3", "--set", "checkpoint.every_epochs=1",
       "--set", "logging.report=false"]


def _env():
    return {**os.environ, "OMP_NUM_THREADS": "1"}  # every process computes with the same thread count


def _wait_for_epoch_checkpoint(process, marker, timeout=120.0):
    """Until the run has saved an epoch checkpoint inside task 2 (so it is killed mid-task)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "the run ended before it could be killed"
        if marker.exists():
            latest = json.loads(marker.read_text())
            if latest["kind"] == "epoch" and latest["completed_tasks"] >= 1:
                return latest
        time.sleep(0.02)
    raise AssertionError("no epoch checkpoint appeared")


def test_sigkill_mid_task_then_resume_gives_the_same_matrix(tmp_path):
    full = subprocess.Popen([*RUN, "--out", str(tmp_path / "full")], env=_env())
    cut = subprocess.Popen([*RUN, "--out", str(tmp_path / "cut")], env=_env())
    latest = _wait_for_epoch_checkpoint(cut, tmp_path / "cut" / "checkpoints" / "latest.json")
    cut.send_signal(signal.SIGKILL)
    cut.wait()
    assert full.wait() == 0
    assert latest["completed_tasks"] < 3  # it really died inside the run
    resumed = subprocess.run([sys.executable, "-m", "retain", "run", "--resume", str(tmp_path / "cut"), "-q"], env=_env())
    assert resumed.returncode == 0
    a = json.loads((tmp_path / "full" / "results.json").read_text())
    b = json.loads((tmp_path / "cut" / "results.json").read_text())
    assert b["complete"] and len(b["resumes"]) == 1
    assert b["accuracy_matrix"] == a["accuracy_matrix"]
    assert b["accuracy"] == a["accuracy"]
