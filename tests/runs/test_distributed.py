"""One run on two processes (issue 16): gloo on the CPU, scikit-learn digits, 2 tasks, 1 epoch.

Every rank must hold the same memory (and the same whole method state) after every task, the
run must learn as one process does (within the spread of three one-process seeds), evaluation
on two shards must give what one rank gives, a killed rank must stop the run with its last
checkpoint kept, and resuming on two processes must repeat the uninterrupted run exactly.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "faults"))  # the fault injector of the kill tests

from injector import injected  # noqa: E402
from retain.engine.batch import Batch  # noqa: E402
from retain.engine.collectives import Group, state_digest  # noqa: E402
from retain.errors import CheckpointError, ConfigError, RetainError  # noqa: E402
from retain.runs.config import build_config  # noqa: E402
from retain.launch import launch, resume  # noqa: E402
from retain.runs.loop import run  # noqa: E402

BASE = ["scenario.increment=5", "train.epochs=1", "memory.budget=100 images", "logging.report=false",
        "logging.tensorboard=false", "model.options={hidden: [64]}"]
SIX = ("finetune", "replay", "icarl", "der", "rainbow", "maer")  # the methods


def config(method: str, seed: int = 0, nproc: int = 1, extra: tuple[str, ...] = ()):
    return build_config(preset="demo", overrides=[*BASE, f"method.name={method}", f"distributed.nproc={nproc}", *extra],
                        seed=seed)


def one_process_spread(method: str, tmp: Path) -> tuple[float, float]:
    """(seed-0 final accuracy, max - min of the final accuracy over seeds 0, 1, 2) on one process."""
    finals = [run(config(method, seed), out=tmp / f"one-{method}-{seed}")["stage_accuracy"][-1] for seed in range(3)]
    return finals[0], max(finals) - min(finals)


def assert_one_memory(results: dict, first_task: int = 0) -> None:
    """Every task boundary this process saw (from `first_task` after a resume): the ranks' memories
    hash equal, and so does the whole method state (without rank 0's state broadcast to repair it)."""
    info = results["distributed"]
    assert info["nproc"] == 2 and info["state_repairs"] == 0
    after = [b for b in info["task_boundaries"] if b["moment"] == "after_task"]
    assert [b["task"] for b in after] == list(range(first_task, len(results["stage_accuracy"])))
    for boundary in info["task_boundaries"]:
        assert boundary["state_equal"]
        assert len(boundary["memory_digests"]) == 2 and len(set(boundary["memory_digests"])) == 1


# ---------------------------------------------------------------------- units: shards
def test_shards_cover_the_batch_in_rank_order():
    for rows in (0, 1, 7, 64):
        for world in (1, 2, 3):
            parts = [Group(rank, world, torch.device("cpu"), 1.0).bounds(rows) for rank in range(world)]
            assert parts[0][0] == 0 and parts[-1][1] == rows
            assert all(a[1] == b[0] for a, b in zip(parts, parts[1:]))
            assert max(b - a for a, b in parts) - min(b - a for a, b in parts) <= 1


def test_a_shard_keeps_its_stream_rows_first_and_its_memory_columns():
    n, stream = 7, 4
    batch = Batch(images=torch.arange(n, dtype=torch.float32)[:, None], labels=torch.arange(n), raw=torch.arange(n)[:, None],
                  from_memory=torch.arange(n) >= stream, indices=torch.arange(100, 100 + n),
                  extras={"logits": torch.arange(n - stream, dtype=torch.float32)[:, None]}, stream_rows=stream)
    shards = [Group(rank, 2, torch.device("cpu"), 1.0).shard(batch) for rank in range(2)]
    assert [s.labels.tolist() for s in shards] == [[0, 1, 4, 5], [2, 3, 6]]
    assert torch.cat([s.stream_part(s.indices) for s in shards]).tolist() == [100, 101, 102, 103]
    assert [s.extras["logits"].flatten().tolist() for s in shards] == [[0.0, 1.0], [2.0]]
    assert [s.memory_part(s.labels).tolist() for s in shards] == [[4, 5], [6]]
    # One stream row and three memory rows: two rows each (BatchNorm needs two), not 3 + 1.
    few = Batch(images=batch.images[3:], labels=batch.labels[3:], raw=batch.raw[3:], from_memory=batch.from_memory[3:],
                indices=batch.indices[3:], extras=batch.extras, stream_rows=1)
    shards = [Group(rank, 2, torch.device("cpu"), 1.0).shard(few) for rank in range(2)]
    assert [s.labels.tolist() for s in shards] == [[3, 4], [5, 6]]
    assert [s.extras["logits"].flatten().tolist() for s in shards] == [[0.0], [1.0, 2.0]]


def test_state_digest_sees_every_bit():
    state = {"w": torch.zeros(3), "rows": [b"ab", 2], "seen": {1, 2}, "count": torch.tensor(5)}
    assert state_digest(state) == state_digest({"w": torch.zeros(3), "rows": [b"ab", 2], "seen": {1, 2}, "count": torch.tensor(5)})
    assert state_digest({**state, "count": torch.tensor(6)}) != state_digest(state)  # a 0-d tensor (BatchNorm's count)
    changed = torch.zeros(3)
    changed[1] = 1e-30
    assert state_digest({**state, "w": changed}) != state_digest(state)
    assert state_digest({**state, "rows": [b"ab", 3]}) != state_digest(state)


# ---------------------------------------------------------------------- two processes
@pytest.fixture(scope="module")
def replay_runs(tmp_path_factory):
    """A two-process replay run through the CLI (`--nproc 2`) and the one-process seed spread."""
    from retain.cli import main

    tmp = tmp_path_factory.mktemp("ddp")
    out = tmp / "two"
    args = ["run", "--preset", "demo", "--seed", "0", "--nproc", "2", "--out", str(out), "-q"]
    for value in [*BASE, "method.name=replay"]:
        args += ["--set", value]
    with pytest.raises(SystemExit) as done:
        main(args)
    assert done.value.code in (0, None)
    return json.loads((out / "results.json").read_text()), one_process_spread("replay", tmp), out


def test_two_processes_hold_one_memory_and_learn_as_one(replay_runs):
    two, (one_final, spread), out = replay_runs
    assert two["complete"] and two["config"]["distributed"]["nproc"] == 2
    assert_one_memory(two)
    assert abs(two["stage_accuracy"][-1] - one_final) <= spread
    # Rank 0 alone wrote the run directory: one results file, task checkpoints, no temporaries.
    assert sorted(p.name for p in (out / "checkpoints").glob("*.pt")) == ["task-0001.pt", "task-0002.pt"]
    assert not list(out.rglob("*.tmp*"))


def test_sharded_evaluation_gives_what_one_rank_gives(replay_runs):
    from retain.engine.evaluator import evaluate
    from retain.runs.checkpoint import load_checkpoint
    from retain.runs.loop import build_setup

    two, _, out = replay_runs
    setup = build_setup(config("replay"))
    setup.method.load_state_dict(load_checkpoint(out / "checkpoints" / "task-0002.pt", "task")["method"])
    task = setup.plan.tasks[-1]
    whole = evaluate(setup.method, task, setup.ctx).scores
    assert whole["cnn"].per_task == two["accuracy"]["cnn"]["matrix"][-1]
    assert whole["nme"].top1 == two["accuracy"]["nme"]["stage"][-1]


def test_a_killed_rank_stops_the_run_and_a_two_process_resume_repeats_it(replay_runs, tmp_path):
    two, _, _ = replay_runs
    out = tmp_path / "killed"
    # The ranks are forked from this process: they inherit the injector.
    with injected("memory-update@2", rank="1"), \
            pytest.raises(RetainError, match=r"rank 1 of 2 was killed by signal SIGKILL.*--resume .*killed --nproc 2"):
        launch(config("replay", nproc=2), out=out)
    assert not (out / "results.json").exists() or not json.loads((out / "results.json").read_text())["complete"]
    assert json.loads((out / "checkpoints" / "latest.json").read_text())["completed_tasks"] == 1
    with pytest.raises(ConfigError, match=r"started on distributed.nproc=2 .* resume with --nproc 2"):
        resume(out, nproc=1)
    # A config that would change the results is refused once, in this process, before any rank starts
    # (an error raised by the ranks would come back as "rank 0 of 2 exited ...").
    with pytest.raises(CheckpointError, match=r"train.lr"):
        resume(out, config("replay", nproc=2, extra=("train.lr=0.5",)))
    resumed = resume(out)
    assert resumed["complete"] and resumed["resumes"] == [{"completed_tasks": 1, "epoch_checkpoint": False}]
    assert resumed["accuracy"] == two["accuracy"]  # the same computation, repeated
    assert_one_memory(resumed, first_task=1)
    final = [b["memory_digests"][0] for b in resumed["distributed"]["task_boundaries"] if b["moment"] == "after_task"]
    expected = [b["memory_digests"][0] for b in two["distributed"]["task_boundaries"] if b["moment"] == "after_task"]
    assert final[-1] == expected[-1]


def test_batchnorm_statistics_and_jpeg_rows_are_one_on_every_rank(tmp_path):
    """Each rank's BatchNorm sees its shard; rank 0's running statistics are broadcast after every
    epoch, so the method state (iCaRL: network, teacher, class means, a JPEG memory whose encoded
    bytes every rank makes itself) still agrees bit for bit."""
    extra = ("model.options={hidden: [64], batchnorm: true}", "memory.codec=jpeg", "memory.quality=50")
    two = launch(config("icarl", nproc=2, extra=extra), out=tmp_path / "bn")
    assert two["complete"] and two["config"]["memory"]["codec"] == "jpeg"
    assert two["ledger"][-1]["total_bytes"] <= two["ledger"][-1]["budget_bytes"]
    assert_one_memory(two)


def test_refused_settings_stop_before_any_process_starts(tmp_path):
    with pytest.raises(ConfigError, match=r"method.name='derpp' does not run with distributed.nproc=2"):
        launch(config("derpp", nproc=2), out=tmp_path / "derpp")
    with pytest.raises(ConfigError, match=r"distributed.sync_batchnorm = true needs CUDA"):
        launch(config("replay", nproc=2, extra=("distributed.sync_batchnorm=true",)), out=tmp_path / "sync")
    assert not (tmp_path / "derpp").exists()


# ---------------------------------------------------------------------- the six methods (slow)
@pytest.mark.slow
@pytest.mark.parametrize("method", SIX)
def test_method_on_two_processes_holds_one_memory_within_the_seed_spread(method, tmp_path):
    two = launch(config(method, nproc=2), out=tmp_path / "two")
    assert two["complete"]
    assert_one_memory(two)
    finals = [launch(config(method, seed), out=tmp_path / f"one-{seed}")["stage_accuracy"][-1] for seed in range(3)]
    assert abs(two["stage_accuracy"][-1] - finals[0]) <= max(finals) - min(finals)


@pytest.mark.slow
def test_a_rank_killed_mid_epoch_resumes_from_the_epoch_checkpoint_as_if_uninterrupted(tmp_path):
    """MAER (its proxy gathers every rank's rows each step), epoch checkpoints, 2 epochs: rank 1 is
    killed half-way through task 2's second epoch; the two-process resume repeats the run exactly."""
    extra = ("checkpoint.every_epochs=1", "train.epochs=2")
    full = launch(config("maer", nproc=2, extra=extra), out=tmp_path / "full")
    with injected("mid-epoch@2", rank="1"), pytest.raises(RetainError, match="rank 1 of 2 was killed by signal SIGKILL"):
        launch(config("maer", nproc=2, extra=extra), out=tmp_path / "killed")
    latest = json.loads((tmp_path / "killed" / "checkpoints" / "latest.json").read_text())
    assert (latest["kind"], latest["completed_tasks"], latest["epoch"]) == ("epoch", 1, 1)
    again = resume(tmp_path / "killed")
    assert again["resumes"] == [{"completed_tasks": 1, "epoch_checkpoint": True}]
    assert again["accuracy"] == full["accuracy"]
    assert again["method_results"] == full["method_results"]  # MAER's selection log: the same rows chosen


@pytest.mark.slow
def test_torchrun_starts_the_same_run(tmp_path):
    """`torchrun --nproc-per-node 2 -m retain run ...`: each process joins torchrun's group."""
    import os
    import subprocess
    import sys

    import retain

    out = tmp_path / "torchrun"
    args = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "-m", "retain", "run",
            "--preset", "demo", "--seed", "0", "--out", str(out), "-q"]
    for value in [*BASE, "method.name=icarl"]:
        args += ["--set", value]
    env = {**os.environ, "PYTHONPATH": str(Path(retain.__file__).parents[1])}
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads((out / "results.json").read_text())
    assert results["config"]["distributed"]["nproc"] == 2 and results["complete"]
    assert_one_memory(results)


# What the other accepted methods need besides the defaults (as in tests/methods/test_matrix.py).
OTHER_SETUP = {"gdumb": ("train.epochs=10",), "memo": ("model.backbone=resnet14", "model.options={}"),
               "mrdc": ("memory.codec=jpeg", "memory.quality=auto")}


def _accepted_others() -> list[str]:
    from retain.methods import get_method_class, method_names

    return [m for m in method_names() if m not in SIX and get_method_class(m).distributed_refusal is None]


@pytest.mark.slow
@pytest.mark.parametrize("method", _accepted_others())
def test_every_other_accepted_method_keeps_one_state_on_two_processes(method, tmp_path):
    """Teachers, branches, IL2M statistics, EWC's Fisher, BiC's bias layer, MRDC's quality search:
    computed on every rank from the same inputs, they agree bit for bit without a repair."""
    two = launch(config(method, nproc=2, extra=OTHER_SETUP.get(method, ())), out=tmp_path / "two")
    assert two["complete"]
    assert_one_memory(two)
