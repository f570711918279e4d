"""No training step waits for the device: the step loop never reads device data on the host.

There is no GPU here, so the test marks the tensors that would live on the training device
(the dataset, the memory's rows and columns, the network's parameters) and follows them
through every torch call of `train_task` with a TorchFunctionMode: whatever is computed from a
device tensor is a device tensor. A call that would copy such a tensor to the host and wait
for it (`.item()`, `.tolist()`, `.cpu()`, `.numpy()`, `bool()`/`int()`/`float()`, `nonzero`,
`unique`, boolean-mask indexing, ...) is recorded with where it came from. Host bookkeeping on
host tensors (the sampler's generator draws, reservoir arithmetic) is free and not counted.
The demo's digits and MLP suffice: the question is which calls happen, not what is learned.
"""

from __future__ import annotations

import traceback
import weakref

import pytest
import torch
from torch.overrides import TorchFunctionMode

from retain.engine.trainer import train_task
from retain.experiment.config import build_config
from retain.experiment.run import build_setup

# Calls that hand a device tensor's values to the host (each one a device synchronisation).
HOST_READS = {
    "item", "tolist", "cpu", "numpy", "__bool__", "__int__", "__float__", "__index__",
    "nonzero", "argwhere", "unique", "unique_consecutive", "masked_select", "bincount",
    "repeat_interleave", "equal", "allclose",
}


class HostSyncCounter(TorchFunctionMode):
    """Follows device tensors through torch calls and records every host read of one."""

    def __init__(self, roots: list[torch.Tensor]) -> None:
        super().__init__()
        self._device: dict[int, weakref.ref] = {}
        self.reads: list[tuple[str, str]] = []
        for tensor in roots:
            self._mark(tensor)

    def _mark(self, tensor: torch.Tensor) -> None:
        self._device[id(tensor)] = weakref.ref(tensor)

    def on_device(self, value) -> bool:
        if isinstance(value, torch.Tensor):
            ref = self._device.get(id(value))
            return ref is not None and ref() is value
        if isinstance(value, (list, tuple)):
            return any(self.on_device(v) for v in value)
        if isinstance(value, dict):
            return any(self.on_device(v) for v in value.values())
        return False

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", str(func))
        from_device = self.on_device(args) or self.on_device(kwargs)
        if from_device and (name in HOST_READS or (name in ("__getitem__", "__setitem__") and _bool_index(args))):
            frame = next(f for f in reversed(traceback.extract_stack()[:-1]) if "/retain/" in f.filename)
            self.reads.append((name, f"{frame.filename.split('/retain/')[-1]}:{frame.lineno}"))
        out = func(*args, **kwargs)
        if from_device and name == "cpu" and out is args[0]:
            out = out.clone()  # on a GPU .cpu() returns a new host tensor, not its input
        if from_device and name not in HOST_READS:  # what a host read returns is on the host
            for value in out if isinstance(out, (list, tuple)) else (out,):
                if isinstance(value, torch.Tensor):
                    self._mark(value)
        return out


def _bool_index(args) -> bool:
    index = args[1] if len(args) > 1 else None
    parts = index if isinstance(index, tuple) else (index,)
    return any(isinstance(p, torch.Tensor) and p.dtype == torch.bool for p in parts)


def device_roots(setup) -> list[torch.Tensor]:
    """What a GPU run keeps on the GPU: data, network, memory rows and columns."""
    data, method = setup.ctx.dataset, setup.method
    roots = [data.train.images, data.train.labels, *method.network.parameters()]
    memory = getattr(method, "memory", None)
    if memory is not None and memory._store is not None:
        store = memory.store
        roots += [t for t in (store._pixels, *store._columns.values(), *store._extras.values()) if t is not None]
    return roots


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
