"""Replay modes independent of the memory policy (issue 17, item 7; docs/replay.md).

What is stored (the policy) and how it is replayed (`memory.replay: concat | batch`, with
`memory.batch_size`) are two settings; settings that would be ignored are refused before
training; `train.reset_optimizer: false` carries the optimiser state across tasks (and resumes).
scikit-learn digits, 2 tasks of 5 classes, MLP 128-128.
"""

import json

import pytest
import torch

from retain.engine.optim import carry_state, restore_carried_state
from retain.errors import ConfigError
from retain.runs.config import build_config
from retain.runs.loop import resume_run, run

from tests.runs.test_checkpoint import StopAtEpoch

BASE = ["scenario.increment=5", "train.epochs=2", "memory.budget=100 images", "train.batch_size=32",
        "logging.report=false", "logging.tensorboard=false"]


def _run(tmp_path, name, *settings, reporter=None):
    config = build_config(preset="demo", overrides=BASE + list(settings), seed=1)
    return run(config, out=tmp_path / name, **({"reporter": reporter} if reporter else {}))


def _train_rows(result, task):
    return result["timings"]["tasks"][task]["train_images"]


def test_selection_policy_with_batch_replay_adds_a_memory_minibatch_to_every_step(tmp_path):
    # Avalanche's Replay recipe: memory rebuilt at task end (random per class), and every step of
    # task 2 takes 32 stream rows + 16 memory rows. A concat pool (the old, only mode of a selection
    # policy) would train on stream + 100 memory rows per epoch instead.
    batch = _run(tmp_path, "batch", "method.name=replay", "memory.policy=random", "memory.replay=batch",
                 "memory.batch_size=16")
    concat = _run(tmp_path, "concat", "method.name=replay", "memory.policy=random", "memory.replay=concat")
    stream_rows = _train_rows(concat, 0)  # task 1: no memory yet, the same in both modes
    assert _train_rows(batch, 0) == stream_rows
    task2 = _train_rows(concat, 1) - 2 * 100  # task 2's own rows over 2 epochs
    steps = 2 * -(-(task2 // 2) // 32)
    assert _train_rows(batch, 1) == task2 + 16 * steps
    # The memory is updated at task end only: after task 1 it holds 100 rows of task 1's classes.
    assert batch["ledger"][0]["exemplars"] == 100


def test_streaming_policy_with_concat_replay_mixes_the_memory_into_the_pool(tmp_path):
    # A reservoir fills during training; with concat its rows join the pool of the next epochs
    # (no extra minibatch): the rows trained on are the stream plus at most 100 per epoch.
    result = _run(tmp_path, "res", "method.name=replay", "memory.policy=reservoir", "memory.replay=concat")
    stream = _train_rows(_run(tmp_path, "ft", "method.name=finetune", "memory.budget=null"), 1)
    assert stream < _train_rows(result, 1) <= stream + 2 * 100


@pytest.mark.parametrize("settings, words", [
    (["method.name=icarl", "memory.batch_size=32"], ["memory.batch_size=32", "memory.replay is concat"]),
    (["method.name=replay", "memory.replay=concat", "memory.batch_size=8"], ["memory.batch_size=8", "concat"]),
    (["method.name=finetune", "memory.replay=batch"], ["memory.replay=batch", "keeps no memory"]),
    (["method.name=gdumb", "memory.replay=batch"], ["memory.replay=batch", "memory alone"]),
    (["method.name=rainbow", "memory.batch_size=4"], ["memory.batch_size=4", "train.batch_size"]),
    (["method.name=icarl", "model.head=full"], ["model.head=full", "model.head=growing"]),
])
def test_meaningless_settings_are_refused_before_training(tmp_path, settings, words):
    with pytest.raises(ConfigError) as refused:
        build_config(preset="demo", overrides=BASE + settings, seed=1)
    assert all(word in str(refused.value) for word in words)


def test_full_head_has_every_class_from_the_first_task(tmp_path):
    from retain.runs.loop import build_setup
    from retain.console import Reporter

    config = build_config(preset="demo", overrides=BASE + ["method.name=replay", "model.head=full"], seed=1)
    setup = build_setup(config, Reporter(quiet=True))
    setup.method.before_task(setup.plan.tasks[0])
    assert setup.method.network.head.num_classes == setup.plan.num_classes == 10


def test_optimizer_state_is_carried_by_parameter_name_unless_shapes_changed():
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    net(torch.randn(5, 3)).sum().backward()
    opt.step()
    carry = carry_state(opt, net)
    assert set(carry) == {"0.weight", "0.bias", "1.weight", "1.bias"}
    net[1] = torch.nn.Linear(4, 3)  # a grown head: new tensor, new shape
    fresh = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    assert restore_carried_state(fresh, net, carry) == 2
    assert torch.equal(fresh.state[net[0].weight]["momentum_buffer"], carry["0.weight"]["momentum_buffer"])
    assert net[1].weight not in fresh.state


def test_reset_optimizer_false_changes_training_and_resumes_bit_exactly(tmp_path):
    settings = ["method.name=replay", "model.head=full", "memory.policy=random", "memory.replay=batch",
                "scenario.increment=2", "scenario.num_tasks=3",
                "checkpoint.every_epochs=0"]
    kept = _run(tmp_path, "kept", *settings, "train.reset_optimizer=false")
    reset = _run(tmp_path, "reset", *settings, "train.reset_optimizer=true")
    assert kept["accuracy_matrix"] != reset["accuracy_matrix"]  # the momentum of task 1 reached task 2
    # Interrupted in task 3 (epoch callback 5), resumed from the task-2 checkpoint: the carried
    # momentum comes back with it, so the matrix is the uninterrupted one.
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path, "cut", *settings, "train.reset_optimizer=false", reporter=StopAtEpoch(5))
    resumed = resume_run(tmp_path / "cut")
    assert json.dumps(resumed["accuracy_matrix"]) == json.dumps(kept["accuracy_matrix"])
