"""Counting host synchronisations of the training loop without a GPU (and, with one, with CUDA's own detector).

`HostSyncCounter` marks the tensors that would live on the training device (the dataset, the
memory's rows and columns, the network's parameters) and follows them through every torch call
with a TorchFunctionMode: whatever is computed from a device tensor is a device tensor. A call
that would copy such a tensor to the host and wait for it (`.item()`, `.tolist()`, `.cpu()`,
`.numpy()`, `bool()`/`int()`/`float()`, `nonzero`, `unique`, boolean-mask indexing, ...) is recorded
with where it came from. Host bookkeeping on host tensors is free and not counted.
`tests/engine/test_host_sync.py` holds the step loop to zero per step with it;
`python -m benchmarks gpu` uses it on the CPU and `cuda_sync_warnings` on a GPU.
"""

from __future__ import annotations

import traceback
import warnings
import weakref
from collections.abc import Callable
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

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


def device_roots(dataset: Any, method: Any) -> list[torch.Tensor]:
    """What a GPU run keeps on the GPU: data, network, memory rows and columns."""
    roots = [dataset.train.images, dataset.train.labels, *method.network.parameters()]
    memory = getattr(method, "memory", None)
    if memory is not None and memory._store is not None:
        store = memory.store
        roots += [t for t in (store._pixels, *store._columns.values(), *store._extras.values()) if t is not None]
    return roots


def cuda_sync_warnings(fn: Callable[[], Any]) -> tuple[Any, list[str]]:
    """Run `fn` under `torch.cuda.set_sync_debug_mode("warn")`: CUDA's own detector warns at every
    operation that makes the host wait for the device (a copy to the host, `.item()`, `nonzero`,
    a synchronize). Returns fn's value and the "file:line" of each synchronising call."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            value = fn()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return value, [f"{w.filename}:{w.lineno}" for w in caught if "synchroniz" in str(w.message).lower()]
