"""Checkpoints: bit-exact resume for every method, refusal of corrupt or foreign checkpoints."""

import hashlib
import json

import pytest
import torch

from retain.errors import CheckpointError
from retain.runs.checkpoint import FORMAT_VERSION, Checkpointer, config_differences, load_checkpoint, save_checked
from retain.runs.config import build_config, config_to_dict
from retain.console import Reporter
from retain.runs.loop import build_setup, resume_run, run
from retain.methods import get_method_class, method_names

# The five methods the default suite checks; every other registered method runs with -m slow.
DEFAULT_SUITE = {"finetune", "joint", "replay", "icarl", "gdumb"}
# Extra settings a method needs on the digits demo preset (MLP backbone), by method name.
METHOD_SETTINGS: dict[str, list[str]] = {
    "memo": ["model.backbone=convnet2", "model.options={}"],
    "mrdc": ["memory.codec=jpeg", "memory.quality=50"],
    # joint's default trains once, in task 1; the cumulative option trains in every task, as the
    # epoch schedule of this test needs (and keeps state: the indices seen so far).
    "joint": ["method.training=cumulative"],
}


class StopAtEpoch(Reporter):
    """Raises KeyboardInterrupt (as Ctrl-C would) in the n-th epoch callback of a run."""

    def __init__(self, n: int) -> None:
        super().__init__(quiet=True)
        self.n, self.calls = n, 0

    def epoch(self, *args) -> None:
        self.calls += 1
        if self.calls == self.n:
            raise KeyboardInterrupt


def _overrides(method: str, every: int) -> list[str]:
    settings = ["train.epochs=2", "scenario.num_tasks=4", f"method.name={method}",
                f"checkpoint.every_epochs={every}", "logging.report=false", "logging.tensorboard=false"]
    if get_method_class(method).uses_memory:
        settings.append("memory.budget=100 images")
    return settings + METHOD_SETTINGS.get(method, [])


def _matrix(path):
    return json.loads((path / "results.json").read_text())["accuracy_matrix"]


@pytest.mark.parametrize("method", [
    m if m in DEFAULT_SUITE else pytest.param(m, marks=pytest.mark.slow) for m in method_names()
])
def test_interrupted_run_resumes_to_the_same_matrix(tmp_path, method):
    # Epoch callbacks 1..8 = (task 1, epoch 1) .. (task 4, epoch 2); stopping in callback 6 leaves
    # the epoch checkpoint of (task 3, epoch 1); stopping in 5 leaves only the task-2 boundary.
    run(build_config(preset="demo", overrides=_overrides(method, 1)), out=tmp_path / "full")
    for stop, every in ((6, 1), (5, 0)):
        cut = tmp_path / f"cut{stop}"
        with pytest.raises(KeyboardInterrupt):
            run(build_config(preset="demo", overrides=_overrides(method, every)), out=cut, reporter=StopAtEpoch(stop))
        latest = json.loads((cut / "checkpoints" / "latest.json").read_text())
        assert latest == ({"kind": "epoch", "completed_tasks": 2, "phase": 0, "epoch": 1, "file": "epoch-0005.pt"} if every else
                          {"kind": "task", "completed_tasks": 2, "phase": None, "epoch": None, "file": "task-0002.pt"})
        resumed = resume_run(cut)
        assert resumed["complete"] and resumed["resumes"] == [{"completed_tasks": 2, "epoch_checkpoint": bool(every)}]
        assert _matrix(cut) == _matrix(tmp_path / "full")


def _tree_digest(path):
    # The lock file holds the pid of the last process that held the lock; it is not run data.
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file() and p.name != ".retain.lock"}


@pytest.fixture
def interrupted(tmp_path):
    cut = tmp_path / "cut"
    config = build_config(preset="demo", overrides=_overrides("replay", 1))
    with pytest.raises(KeyboardInterrupt):
        run(config, out=cut, reporter=StopAtEpoch(4))
    return cut, config


def test_checkpoints_load_with_weights_only(interrupted):
    cut, _ = interrupted
    # Stopped in epoch callback 4 = (task 2, epoch 2): task 1's checkpoint and the epoch-3 one (task 2, epoch 1).
    names = sorted(p.name for p in (cut / "checkpoints").iterdir())
    assert names == ["epoch-0003.pt", "epoch-0003.pt.sha256", "latest.json", "task-0001.pt", "task-0001.pt.sha256"]
    for name in ("task-0001.pt", "epoch-0003.pt"):
        payload = torch.load(cut / "checkpoints" / name, weights_only=True)
        assert payload["format"] == FORMAT_VERSION == 2 and payload["progress"]["completed_tasks"] == 1
        recorded = (cut / "checkpoints" / f"{name}.sha256").read_text().split()[0]
        assert recorded == hashlib.sha256((cut / "checkpoints" / name).read_bytes()).hexdigest()
    assert not list((cut / "checkpoints").glob(".*.tmp"))  # atomic writes leave no temporary files


def _flip_bits(path):
    """Change bytes in the middle of the file (a stored tensor), keeping its length: torch may still load it."""
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 8] = bytes(b ^ 0x55 for b in data[middle:middle + 8])
    path.write_bytes(bytes(data))


def test_a_changed_epoch_checkpoint_is_refused_and_the_task_checkpoint_used(interrupted):
    cut, config = interrupted
    _flip_bits(cut / "checkpoints" / "epoch-0003.pt")
    point = Checkpointer(cut, config_to_dict(config), 1).load()
    assert point.epoch is None and point.task["progress"]["completed_tasks"] == 1
    assert "epoch-0003.pt" in point.notes[0] and "SHA-256" in point.notes[0] and "task-0001.pt" in point.notes[0]


def test_truncated_checkpoints_are_refused_and_nothing_changes(interrupted):
    cut, _ = interrupted
    for name in ("epoch-0003.pt", "task-0001.pt"):
        path = cut / "checkpoints" / name
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    before = _tree_digest(cut)
    with pytest.raises(CheckpointError, match=r"No checkpoint .* can be used: checkpoints/task-0001\.pt .*SHA-256.*checkpoints/epoch-0003\.pt"):
        resume_run(cut)
    assert _tree_digest(cut) == before


def test_different_config_is_refused_naming_the_keys(interrupted):
    cut, _ = interrupted
    before = _tree_digest(cut)
    other = build_config(preset="demo", overrides=[*_overrides("replay", 1), "train.lr=0.01", "seed=3"])
    with pytest.raises(CheckpointError, match=r"seed: 0 != 3.*train\.lr: 0\.05 != 0\.01"):
        resume_run(cut, other)
    # An edited config.yaml no longer matches the checkpoints it wrote.
    text = (cut / "config.yaml").read_text().replace("lr: 0.05", "lr: 0.02")
    (cut / "config.yaml").write_text(text)
    with pytest.raises(CheckpointError, match=r"train\.lr: 0\.02 != 0\.05"):
        resume_run(cut)
    assert {k: v for k, v in _tree_digest(cut).items() if k != "config.yaml"} == {k: v for k, v in before.items() if k != "config.yaml"}


def test_foreign_file_and_missing_run_are_refused(tmp_path, interrupted):
    cut, _ = interrupted
    torch.save({"format": 1, "kind": "task"}, cut / "checkpoints" / "task-0001.pt")
    with pytest.raises(CheckpointError, match="not a retain 'task' checkpoint"):
        load_checkpoint(cut / "checkpoints" / "task-0001.pt", "task")
    with pytest.raises(CheckpointError, match="no config.yaml"):
        resume_run(tmp_path / "nowhere")


def test_resuming_a_complete_run_changes_nothing(tmp_path):
    done = tmp_path / "done"
    run(build_config(preset="demo", overrides=_overrides("finetune", 0)), out=done)
    before = _tree_digest(done)
    assert resume_run(done)["complete"]
    assert _tree_digest(done) == before


def test_config_differences_names_nested_keys():
    assert config_differences({"a": {"b": 1, "c": [1]}}, {"a": {"b": 2, "c": [1]}, "d": 0}) == [
        "a.b: 1 != 2", "d: '<unset>' != 0",
    ]


def test_a_checkpoint_of_an_older_format_is_refused_before_anything_changes(interrupted):
    # Format 1 (before method state was declared) holds other keys: refused by name, not half-way.
    cut, _ = interrupted
    for path in (cut / "checkpoints").glob("*.pt"):
        payload = torch.load(path, weights_only=True)
        payload["format"] = 1
        save_checked(path, payload)
    before = _tree_digest(cut)
    with pytest.raises(CheckpointError, match=rf"format 1, this retain reads format {FORMAT_VERSION}"):
        resume_run(cut)
    assert _tree_digest(cut) == before
