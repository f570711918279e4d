"""The one place the GPU check reaches past retain's public API.

(d) times the engine's step loop against bare forward/backward of the same network and counts
its host synchronisations: that needs a method on a run context without a run directory, which
only the benchmark helpers (benchmarks/synthetic.py, benchmarks/throughput.py) build, and they
import retain's internals. When retain's modules move, this file and those helpers are what to
fix; every other part of the GPU check uses `retain.run`, `retain.make_config` and the
`retain run` command.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from benchmarks.host_sync import HostSyncCounter, cuda_sync_warnings, device_roots
from benchmarks.runner import Settings, interleaved, synchronize
from benchmarks.synthetic import WORKLOADS, SyntheticRun, with_indices
from benchmarks.throughput import Sizes, bare_step_fn, prepare, prepare_dataset, retain_step_fn

RESNET32 = WORKLOADS["resnet32"]

__all__ = ["RESNET32", "Settings", "Sizes", "SyntheticRun", "bare_step_fn", "count_host_syncs", "interleaved",
           "prepare", "prepare_dataset", "retain_step_fn", "synchronize", "with_indices", "compile_backbone"]


def compile_backbone(network: torch.nn.Module, backend: str) -> None:
    """torch.compile the backbone in place; the head, which grows at every task, stays eager, so
    its growth never invalidates the compiled graph."""
    network.backbone = torch.compile(network.backbone, backend=backend)


def count_host_syncs(run: SyntheticRun, fn: Callable[[], Any], device: str) -> tuple[Any, list[str]]:
    """fn's value and the places where it made the host wait for the device: CUDA's sync debug
    mode on a GPU; on the CPU the reads of tensors a GPU run would keep on the device."""
    if torch.device(device).type == "cuda":
        return cuda_sync_warnings(fn)
    counter = HostSyncCounter(device_roots(run.ctx.dataset, run.method))
    with counter:
        value = fn()
    return value, [f"{name} at {where}" for name, where in counter.reads]
