"""One writer per run directory: a second process (a resume of a running run) is refused, the
lock is released when its holder is killed, and sweep cells take the same lock."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fault_runs import FAULTY_RETAIN, env, results, retain, small_args
from retain.runs.directory import RunDirLock
from retain.sweeps.sweep import run_cell


def _stopped(pid: int) -> bool:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "T"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the process state from /proc")
def test_a_second_writer_is_refused_while_the_first_runs_and_allowed_after_a_kill(tmp_path):
    out = tmp_path / "run"
    # The first run stops itself (SIGSTOP) after task 1's evaluation: alive, holding the lock, for as long as we need.
    first = subprocess.Popen([sys.executable, FAULTY_RETAIN, "run", *small_args(), "--out", str(out)],
                             env=env(RETAIN_FAULT="evaluation@1", RETAIN_FAULT_ACTION="stop"),
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not _stopped(first.pid):
        assert first.poll() is None and time.monotonic() < deadline, "the first run never reached its stop"
        time.sleep(0.02)
    second = retain("run", "--resume", str(out))
    assert second.returncode == 2, second.stderr
    message = " ".join(second.stderr.split())
    assert f"being written by another retain process (pid {first.pid})" in message and str(out) in message
    assert "Traceback" not in second.stderr

    first.send_signal(signal.SIGKILL)  # the OS drops a dead process's lock: the run can be resumed
    first.wait()
    resumed = retain("run", "--resume", str(out))
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert results(out)["complete"]


def test_a_sweep_cell_runs_under_the_run_directory_lock(tmp_path):
    cell_dir = tmp_path / "cell"
    cell = {"name": "cell", "axes": {}, "dir": str(cell_dir), "journal": str(tmp_path / "log.jsonl"),
            "config": {"preset": "demo", "train": {"epochs": 1}, "scenario": {"num_tasks": 2}}}
    with RunDirLock(cell_dir):  # another process would hold this while it runs the cell
        outcome = run_cell(cell)
    assert outcome["event"] == "failed" and "being written by another retain process" in outcome["error"]
    assert not (cell_dir / "config.yaml").exists()
    assert '"event": "failed"' in (tmp_path / "log.jsonl").read_text()
