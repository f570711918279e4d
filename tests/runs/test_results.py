"""Run files are written atomically with the ordinary mode of a new file (0666 less the umask)."""

import json
import os
import stat

import pytest
import torch

from retain.runs.config import build_config
from retain.files import atomic_write, atomic_write_text
from retain.runs.results import write_json
from retain.runs.loop import run


@pytest.fixture
def umask():
    """Set the process umask for one test; the previous one is restored afterwards."""
    previous = []

    def set_umask(mask: int) -> None:
        old = os.umask(mask)
        if not previous:
            previous.append(old)

    yield set_umask
    if previous:
        os.umask(previous[0])


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_written_files_get_the_umask_mode_not_mkstemps_0600(tmp_path, umask, mask, expected):
    umask(mask)
    write_json(tmp_path / "results.json", {"a": 1})
    atomic_write_text(tmp_path / "config.yaml", "a: 1\n")
    atomic_write(tmp_path / "task.pt", lambda handle: torch.save({"w": torch.ones(2)}, handle), binary=True)
    for name in ("results.json", "config.yaml", "task.pt"):
        assert _mode(tmp_path / name) == expected, name
    assert torch.load(tmp_path / "task.pt", weights_only=True)["w"].tolist() == [1.0, 1.0]


def test_replacing_is_atomic_and_a_failed_write_keeps_the_old_file(tmp_path, umask):
    umask(0o022)
    path = tmp_path / "results.json"
    write_json(path, {"version": 1})
    write_json(path, {"version": 2})
    assert json.loads(path.read_text()) == {"version": 2} and _mode(path) == 0o644

    def half_then_fail(handle):
        handle.write('{"version": ')
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(path, half_then_fail)
    assert json.loads(path.read_text()) == {"version": 2}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]  # no temporary file left


def test_every_file_of_a_run_is_readable_by_colleagues(tmp_path, umask):
    umask(0o022)
    overrides = ["method.name=replay", "memory.budget=40 images", "scenario.num_tasks=2", "train.epochs=1",
                 "checkpoint.every_epochs=1"]
    run(build_config(preset="demo", overrides=overrides), out=tmp_path / "run")
    files = [p for p in (tmp_path / "run").rglob("*") if p.is_file()]
    names = {p.relative_to(tmp_path / "run").as_posix() for p in files}
    assert {"results.json", "config.yaml", "plan.json", "checkpoints/task-0002.pt", "checkpoints/task-0002.pt.sha256",
            "checkpoints/latest.json"} <= names
    assert ".retain.lock" not in names  # the writer deleted its lock when it ended
    assert {p.relative_to(tmp_path / "run").as_posix(): oct(_mode(p)) for p in files if _mode(p) != 0o644} == {}
