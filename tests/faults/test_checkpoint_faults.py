"""Checkpoints whose bytes changed after they were written are refused by their SHA-256; the resume
falls back to the previous good checkpoint and still ends at the matrix of a run never stopped.
Stale temporary files are removed when a run resumes."""

from __future__ import annotations


import pytest
from typer.testing import CliRunner

from fault_runs import leftovers, one_thread, results
from fault_workspace import SMALL
from injector import injected
from retain.cli import app
from retain.runs.config import build_config
from retain.runs.loop import run


def _flip(path, offset_fraction=0.5):
    """XOR 16 bytes in the middle of the file: same length, a stored tensor changed (torch still loads it)."""
    data = bytearray(path.read_bytes())
    at = int(len(data) * offset_fraction)
    data[at:at + 16] = bytes(b ^ 0x5A for b in data[at:at + 16])
    path.write_bytes(bytes(data))


@pytest.fixture
def stopped_in_task_3(tmp_path):
    """The small run stopped by Ctrl-C after task 3's evaluation: task checkpoints 1 and 2, epoch checkpoints of task 3."""
    out = tmp_path / "run"
    with one_thread(), injected("evaluation@3", action="interrupt"), pytest.raises(KeyboardInterrupt):
        run(build_config(preset="demo", overrides=SMALL), out=out)
    return out


def test_changed_checkpoints_fall_back_to_the_previous_good_one(stopped_in_task_3, reference):
    out = stopped_in_task_3
    ckpt = out / "checkpoints"
    assert sorted(p.name for p in ckpt.glob("*.pt")) == ["epoch-0006.pt", "task-0001.pt", "task-0002.pt"]
    _flip(ckpt / "task-0002.pt")
    _flip(ckpt / "epoch-0006.pt")
    # What a kill during a write leaves: temporary files and a digest whose checkpoint never arrived.
    (ckpt / ".task-0003.pt.0123456789abcdef.tmp").write_bytes(b"half a checkpoint")
    (out / ".results.json.0123456789abcdef.tmp").write_text("{")
    (ckpt / "task-0003.pt.sha256").write_text("0" * 64 + "  task-0003.pt\n")

    with one_thread():
        result = CliRunner().invoke(app, ["run", "--resume", str(out)])
    assert result.exit_code == 0, result.output
    note = " ".join(result.output.split())
    assert "checkpoints/task-0002.pt is refused: its SHA-256" in note
    assert "checkpoints/epoch-0006.pt" in note and "Resuming from checkpoints/task-0001.pt instead" in note
    after = results(out)
    assert after["complete"] and after["resumes"] == [{"completed_tasks": 1, "epoch_checkpoint": False}]
    assert after["accuracy_matrix"] == reference["accuracy_matrix"]
    assert after["accuracy"] == reference["accuracy"]
    assert leftovers(out) == []


def test_a_checkpoint_changed_with_no_good_one_before_it_is_refused(stopped_in_task_3):
    out = stopped_in_task_3
    ckpt = out / "checkpoints"
    for path in ckpt.glob("*.pt"):
        _flip(path)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file() and p.name != ".retain.lock"}
    result = CliRunner().invoke(app, ["run", "--resume", str(out)])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)  # no traceback
    message = " ".join(result.output.split())
    for name in ("task-0002.pt", "task-0001.pt", "epoch-0006.pt"):
        assert f"checkpoints/{name} is refused: its SHA-256" in message
    assert "Nothing in the run directory was changed" in message
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file() and p.name != ".retain.lock"} == before


def test_a_diverged_run_says_what_its_directory_keeps(tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", "-q", "--set", "train.lr=1e30", "--set", "train.epochs=1",
                                      "--set", "logging.tensorboard=false", "--out", str(out)])
    assert result.exit_code == 2 and (result.exception is None or isinstance(result.exception, SystemExit))
    message = " ".join(result.output.split())
    assert "Training diverged" in message and "train.lr" in message
    assert "no task finished" in message and "last good checkpoint" not in message
    assert not list((out / "checkpoints").glob("*.pt")) if (out / "checkpoints").exists() else True
