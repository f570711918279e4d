"""No training step waits for the device: the step loop never reads device data on the host.

There is no GPU here, so the test marks the tensors that would live on the training device
(the dataset, the memory's rows and columns, the network's parameters) and follows them
through every torch call of `train_task` with `benchmarks.host_sync.HostSyncCounter` (a
TorchFunctionMode, shared with `python -m benchmarks gpu`): whatever is computed from a device
tensor is a device tensor, and a call that would copy one to the host and wait for it is
recorded with where it came from. Host bookkeeping on host tensors (the sampler's generator
draws, reservoir arithmetic) is free and not counted.
The demo's digits and MLP suffice: the question is which calls happen, not what is learned.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root holds benchmarks/

from benchmarks import host_sync  # noqa: E402  (the counter, shared with `python -m benchmarks gpu`)
from benchmarks.host_sync import HostSyncCounter  # noqa: E402
from retain.engine.trainer import train_task  # noqa: E402
from retain.runs.config import build_config  # noqa: E402
from retain.runs.loop import build_setup  # noqa: E402


def device_roots(setup) -> list[torch.Tensor]:
    """What a GPU run keeps on the GPU: data, network, memory rows and columns."""
    return host_sync.device_roots(setup.ctx.dataset, setup.method)


def reads_during_training(overrides: list[str], tasks: int = 2) -> list[tuple[str, str]]:
    """Host reads of device tensors inside train_task over the first tasks (1 epoch each)."""
    config = build_config(preset="demo", overrides=["train.epochs=1", "memory.budget=100 images", *overrides])
    setup = build_setup(config)
    method, ctx = setup.method, setup.ctx
    reads: list[tuple[str, str]] = []
    for task in setup.plan.tasks[:tasks]:
        method.before_task(task)
        counter = HostSyncCounter(device_roots(setup))  # after before_task: a grown head has new parameters
        with counter:
            train_task(method, task, ctx)
        reads += counter.reads
        method.after_task(task)
    return reads


def per_step(reads: list[tuple[str, str]], tasks: int = 2) -> list[tuple[str, str]]:
    """Reads other than the loop's one per epoch (the mean loss, with the loss terms when the
    method returns some, read after the epoch)."""
    lines = _epoch_read_lines()
    epoch_reads = [r for r in reads if r[0] in ("item", "tolist") and r[1] in lines]
    assert len(epoch_reads) == tasks, reads  # one per epoch, 1 epoch per task
    return [r for r in reads if r not in epoch_reads]


@pytest.mark.parametrize(
    "overrides",
    [
        ["method.name=finetune"],
        ["method.name=replay"],  # herding: memory rows shuffled into the task's pool
        ["method.name=replay", "memory.policy=reservoir"],  # ER: insertion after every step
        ["method.name=icarl"],  # distillation from a frozen teacher
        ["method.name=der"],
    ],
    ids=["finetune", "replay-pool", "replay-reservoir", "icarl", "der"],
)
def test_step_loop_reads_nothing_from_the_device(overrides):
    assert per_step(reads_during_training(overrides)) == []


def test_counter_sees_a_host_read_in_a_step():
    # A wrong loop (a loss read every step, a mask-indexed memory insertion) is caught.
    from retain.methods.finetune import Finetune

    original = Finetune.after_step
    Finetune.after_step = lambda self, batch: batch.labels[~batch.from_memory].tolist()
    try:
        reads = per_step(reads_during_training(["method.name=finetune"]))
    finally:
        Finetune.after_step = original
    assert {name for name, _ in reads} == {"__getitem__", "tolist"}
    assert {where.split(":")[0] for _, where in reads} == {"engine/epoch.py"}  # the hook's caller


def test_label_aware_streaming_policies_read_labels_once_per_step():
    # Balanced reservoir needs labels on the host to pick its victims: the batch's and the
    # memory's labels are copied once per step (a known GPU cost), nothing else is read.
    reads = per_step(reads_during_training(["method.name=replay", "memory.policy=balanced_reservoir"]))
    assert reads and {name for name, _ in reads} == {"cpu"}
    assert {where for _, where in reads} == {"memory/policies/reservoir.py:" + line for line in _lines_of_cpu_reads()}


def _lines_of_cpu_reads() -> list[str]:
    """Line numbers in reservoir.py that copy the batch's or the memory's labels to the host."""
    import inspect

    from retain.memory.policies import reservoir

    lines = inspect.getsource(reservoir).splitlines()
    return [str(number) for number, line in enumerate(lines, start=1) if "labels.detach().cpu()" in line]


def _epoch_read_lines() -> set[str]:
    """epoch.py's lines that read the epoch's mean loss (and loss terms), marked in the source."""
    import inspect

    from retain.engine import epoch

    lines = inspect.getsource(epoch).splitlines()
    return {f"engine/epoch.py:{n}" for n, line in enumerate(lines, start=1) if "one host sync per epoch" in line}


def test_loss_terms_are_read_with_the_mean_loss():
    # icarl returns (loss, {"ce", "kd"}) from task 2: still one read per epoch, nothing per step.
    reads = reads_during_training(["method.name=icarl"])
    assert per_step(reads) == []
    assert [name for name, _ in reads] == ["item", "tolist"]  # task 1: no terms; task 2: loss and terms together
