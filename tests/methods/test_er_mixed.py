"""ER-mixed (RM's memory-replaying finetune): one pool of stream + memory, RM's memory update."""

import torch

from retain.experiment.config import build_config
from retain.experiment.run import build_setup, run

OVERRIDES = ["method.name=er-mixed", "scenario.kind=blurry", "memory.budget=100 images", "train.epochs=2"]


def test_offline_is_one_concat_phase_and_online_two():
    setup = build_setup(build_config(preset="demo", overrides=OVERRIDES, seed=1))
    task = setup.plan.tasks[0]
    (phase,) = setup.method.training_phases(task)
    assert phase.memory == "concat" and phase.epochs == 2 and phase.stream.numel() == len(task.train_indices)
    online = build_setup(build_config(preset="demo", overrides=[*OVERRIDES, "scenario.stream=online"], seed=1))
    first, second = online.method.training_phases(task)
    assert (first.epochs, second.epochs, second.stream.numel()) == (1, 2, 0)
    assert second.batch_size == online.config.train.batch_size


def test_memory_is_stream_union_memory_and_class_balanced(tmp_path):
    result = run(build_config(preset="demo", overrides=OVERRIDES, seed=1), out=tmp_path / "er")
    # The memory holds min(K, candidates); task 1's minor classes have few samples, so their
    # unused slots go to other classes at random ("breaking the equilibrium").
    assert all(entry["exemplars"] == 100 for entry in result["ledger"])
    # By the last task every class has had its home task and old rows compete as candidates:
    # each class gets at least its quota k = ⌊100/10⌋.
    last = result["ledger"][-1]["exemplars_per_class"]
    assert len(last) == 10 and min(last.values()) >= 10
    assert result["metrics"]["last_accuracy"] > 40


def test_finetune_stays_memory_free():
    setup = build_setup(build_config(preset="demo", overrides=["method.name=finetune", "scenario.kind=blurry"], seed=1))
    assert not setup.method.uses_memory
