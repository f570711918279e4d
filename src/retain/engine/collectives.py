"""One run on several processes: the collectives the trainer, the evaluator and the run use.

Every rank holds the whole dataset, the same seeded generators and the same method, so every
rank draws the same global batch order and the same memory slots; a rank trains on its
contiguous shard of each global batch and the gradients are summed across ranks before each
optimiser step (each rank's loss weighted by its share of the batch's rows). Everything else a
method does (memory updates, teachers, statistics) is computed on every rank from identical
inputs; at task boundaries the ranks compare digests of the whole method state and, should
they differ, take rank 0's. docs/distributed.md explains the design and its costs.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from typing import Any, TypeVar

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from retain.engine.batch import Batch
from retain.errors import ConfigError, RetainError

T = TypeVar("T")


class DistributedError(RetainError):
    """Another process of the run stopped (killed, failed) or a collective timed out."""


class Group:
    """This process's place in a distributed run: its rank, the world size and the collectives.

    Every collective goes through `_call`, which turns a lost peer or a timeout into a
    DistributedError naming the resume command instead of a backend traceback."""

    def __init__(self, rank: int, world_size: int, device: torch.device, timeout_s: float) -> None:
        self.rank = rank
        self.world_size = world_size
        self.device = device  # where collective tensors live: cpu for gloo, this rank's GPU for NCCL
        self.timeout_s = timeout_s
        self.run_dir: str | None = None  # named in the error of a lost peer
        self.repairs = 0                 # task boundaries at which the ranks' states differed
        self.log: list[dict[str, Any]] = []  # per task boundary: each rank's memory digest

    @property
    def is_writer(self) -> bool:
        """Rank 0 writes the run directory (results, checkpoints, curves); the others only compute."""
        return self.rank == 0

    # ------------------------------------------------------------------ failure handling
    def _call(self, what: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except (RuntimeError, dist.DistBackendError) as exc:  # gloo/NCCL: peer gone, timeout
            where = f" retain run --resume {self.run_dir}" if self.run_dir else " retain run --resume <run dir>"
            first = (str(exc).strip().splitlines() or [""])[0][:200]
            raise DistributedError(
                f"Rank {self.rank} of {self.world_size}: the collective '{what}' failed ({first}); another process of "
                f"this run stopped or did not answer within distributed.timeout_s={self.timeout_s:g} s. The run "
                f"directory keeps its last checkpoint; continue with:{where} --nproc {self.world_size}"
            ) from None

    # ------------------------------------------------------------------ shards
    def bounds(self, rows: int) -> tuple[int, int]:
        """This rank's contiguous part [start, stop) of `rows` rows (the first `rows % world` ranks get one more)."""
        base, extra = divmod(rows, self.world_size)
        start = self.rank * base + min(self.rank, extra)
        return start, start + base + (1 if self.rank < extra else 0)

    def shard(self, batch: Batch) -> Batch:
        """This rank's rows of a global batch: its part of the stream rows, then its part of the
        memory rows, so the ranks' stream parts (and memory parts) concatenated in rank order are
        the global ones. Every rank gets the same number of rows (±1) whatever the mix: its
        memory part is what its share of all rows leaves after its stream part."""
        stream_rows = batch.stream_rows if batch.stream_rows is not None else int((~batch.from_memory).sum())
        total = batch.labels.shape[0]
        s0, s1 = self.bounds(stream_rows)
        t0, t1 = self.bounds(total)
        m0, m1 = t0 - s0, t1 - s1
        rows = torch.cat([torch.arange(s0, s1), torch.arange(stream_rows + m0, stream_rows + m1)])
        rows = rows.to(batch.labels.device)
        mix = batch.mix
        if mix is not None:
            mix = replace(mix, images=mix.images.index_select(0, rows), labels_a=mix.labels_a.index_select(0, rows),
                          labels_b=mix.labels_b.index_select(0, rows))
        return Batch(
            images=batch.images.index_select(0, rows),
            labels=batch.labels.index_select(0, rows),
            raw=batch.raw.index_select(0, rows),
            from_memory=batch.from_memory.index_select(0, rows),
            indices=batch.indices.index_select(0, rows),
            extras={name: column[m0:m1] for name, column in batch.extras.items()},  # columns of the memory rows
            step=batch.step,
            mix=mix,
            stream_rows=s1 - s0,
        )

    # ------------------------------------------------------------------ gradients and buffers
    def reduce_gradients(self, parameters: list[torch.Tensor]) -> None:
        """Sum every parameter's gradient over the ranks in one all-reduce.

        A parameter without a gradient on every rank keeps none (so weight decay and momentum skip
        it as in one process); one with a gradient on some rank gets the sum (zeros elsewhere)."""
        if not parameters:
            return
        flags = torch.tensor([p.grad is not None for p in parameters], dtype=torch.float32, device=self.device)
        parts = [(p.grad if p.grad is not None else torch.zeros_like(p)).detach().reshape(-1).to(self.device, torch.float32)
                 for p in parameters]
        flat = torch.cat([flags, *parts])
        self._call("gradient all-reduce", lambda: dist.all_reduce(flat))
        offset = len(parameters)
        present = flat[:offset].tolist()  # one read of the flags, not a device sync per parameter
        for index, p in enumerate(parameters):
            n = p.numel()
            if present[index] > 0:
                grad = flat[offset : offset + n].view_as(p).to(p.device, p.dtype)
                if p.grad is None:
                    p.grad = grad.clone()
                else:
                    p.grad.copy_(grad)
            offset += n

    def sum_scalar(self, value: torch.Tensor) -> torch.Tensor:
        """The sum over ranks of a scalar tensor (the epoch's loss)."""
        flat = value.detach().reshape(1).to(self.device, torch.float64)
        self._call("loss all-reduce", lambda: dist.all_reduce(flat))
        return flat[0].to(value.device, value.dtype)

    def broadcast_buffers(self, module: nn.Module) -> None:
        """Rank 0's buffers (BatchNorm running statistics) on every rank: each rank's BatchNorm saw only its shard."""
        buffers = [b for b in module.buffers() if b.numel()]
        if not buffers:
            return
        flat = torch.cat([b.detach().reshape(-1).to(self.device, torch.float64) for b in buffers])
        self._call("buffer broadcast", lambda: dist.broadcast(flat, src=0))
        offset = 0
        for b in buffers:
            b.copy_(flat[offset : offset + b.numel()].view_as(b).to(b.dtype))
            offset += b.numel()

    # ------------------------------------------------------------------ rows and objects
    def gather_rows(self, values: torch.Tensor) -> torch.Tensor:
        """Every rank's rows of `values` (first dimension may differ per rank), concatenated in rank order."""
        device = values.device
        local = values.detach().to(self.device)
        count = torch.tensor([local.shape[0]], dtype=torch.int64, device=self.device)
        counts = [torch.zeros_like(count) for _ in range(self.world_size)]
        self._call("row count all-gather", lambda: dist.all_gather(counts, count))
        sizes = [int(c) for c in counts]
        widest = max(sizes)
        padded = torch.zeros((widest, *local.shape[1:]), dtype=local.dtype, device=self.device)
        padded[: local.shape[0]] = local
        parts = [torch.empty_like(padded) for _ in range(self.world_size)]
        self._call("row all-gather", lambda: dist.all_gather(parts, padded))
        return torch.cat([part[:size] for part, size in zip(parts, sizes)]).to(device)

    def all_objects(self, value: Any) -> list[Any]:
        """Every rank's (picklable) `value`, in rank order."""
        out: list[Any] = [None] * self.world_size
        self._call("object all-gather", lambda: dist.all_gather_object(out, value))
        return out

    def broadcast_object(self, value: Any) -> Any:
        """Rank 0's (picklable) `value` on every rank."""
        box = [value if self.rank == 0 else None]
        self._call("object broadcast", lambda: dist.broadcast_object_list(box, src=0))
        return box[0]

    def first_error(self, error: BaseException | None) -> None:
        """Raise on every rank when any rank failed a check (the failing rank raises its own error),
        so no rank waits in a collective for a peer that has stopped."""
        messages = self.all_objects(None if error is None else str(error))
        if error is not None:
            raise error
        for rank, message in enumerate(messages):
            if message is not None:
                raise DistributedError(f"rank {rank} stopped: {message}")

    # ------------------------------------------------------------------ one state on every rank
    def synchronise(self, method: Any, task: int, moment: str) -> None:
        """Check that every rank holds the same method state (network, memory, statistics,
        generators); where they differ, every rank takes rank 0's. Records the memory digests."""
        state = method.state_dict()
        memory = getattr(method, "memory", None)
        digests = (state_digest(state), state_digest(memory.state_dict()) if memory is not None else None)
        everyone = self.all_objects(digests)
        equal = len({d[0] for d in everyone}) == 1
        self.log.append({"task": task, "moment": moment, "state_equal": equal,
                         "memory_digests": [d[1] for d in everyone]})
        if not equal:
            self.repairs += 1
            chosen = self.broadcast_object(_to_cpu(state) if self.rank == 0 else None)
            if self.rank != 0:
                method.load_state_dict(chosen)

    def summary(self) -> dict[str, Any]:
        """What results.json records about the distributed run."""
        return {"nproc": self.world_size, "state_repairs": self.repairs, "task_boundaries": list(self.log)}


def _to_cpu(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_cpu(v) for v in obj) if not hasattr(obj, "_fields") else obj
    return obj


def state_digest(obj: Any) -> str:
    """SHA-256 of a state tree (dicts, lists, tensors, arrays, bytes, numbers, strings): equal
    digests mean bit-identical states."""
    h = hashlib.sha256()
    _feed(h, obj)
    return h.hexdigest()


def _feed(h: Any, obj: Any) -> None:
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    elif isinstance(obj, np.ndarray):
        h.update(f"A{obj.dtype}{obj.shape}".encode())
        h.update(np.ascontiguousarray(obj).tobytes())
    elif isinstance(obj, dict):
        h.update(b"{")
        for key in sorted(obj, key=str):
            h.update(repr(key).encode())
            _feed(h, obj[key])
        h.update(b"}")
    elif isinstance(obj, (set, frozenset)):
        h.update(b"S")
        _feed(h, sorted(obj, key=repr))
    elif isinstance(obj, (list, tuple)):
        h.update(b"[")
        for value in obj:
            _feed(h, value)
        h.update(b"]")
    elif isinstance(obj, (bytes, bytearray)):
        h.update(b"B" + bytes(obj))
    elif obj is None or isinstance(obj, (bool, int, float, str)):
        h.update(repr(obj).encode())
    else:
        buffer = io.BytesIO()
        pickle.dump(obj, buffer)
        h.update(buffer.getvalue())


# ---------------------------------------------------------------------- the process group
_current: Group | None = None


def current() -> Group | None:
    """The group of this process's distributed run, or None (one process)."""
    return _current


def env_world_size() -> int:
    """WORLD_SIZE as torchrun (or `retain run --nproc`) set it; 1 outside a distributed launch."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return 1


def check_sync_batchnorm(sync: bool, requested: str, device: torch.device) -> None:
    """ConfigError when distributed.sync_batchnorm asks for PyTorch's SyncBatchNorm (GPUs only) off CUDA."""
    if sync and device.type != "cuda":
        raise ConfigError(
            f"distributed.sync_batchnorm = true needs CUDA (PyTorch's SyncBatchNorm runs on GPUs only), but the ranks "
            f"would train on {device} (device={requested!r}); set distributed.sync_batchnorm=false (each rank then "
            "normalises its shard) or device=auto on a machine with GPUs."
        )


def rank_device(requested: str) -> torch.device:
    """This rank's device: `auto` or `cuda` give GPU LOCAL_RANK when CUDA is there (one GPU per rank), else the CPU."""
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if requested in ("auto", "cuda") and torch.cuda.is_available():
        return torch.device("cuda", local % torch.cuda.device_count())
    if requested == "auto":
        return torch.device("cpu")
    from retain.engine.device import resolve_device

    return resolve_device(requested)


@contextmanager
def process_group(backend: str, device: torch.device, timeout_s: float) -> Iterator[Group]:
    """Join the process group torchrun (or `retain run --nproc`) described in the environment
    (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT) for the duration of a run."""
    global _current
    if backend == "auto":
        backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend=backend, timeout=timedelta(seconds=timeout_s))
    group = Group(dist.get_rank(), dist.get_world_size(), device if backend == "nccl" else torch.device("cpu"), timeout_s)
    _current = group
    try:
        yield group
    finally:
        _current = None
        try:
            dist.destroy_process_group()
        except (RuntimeError, ValueError):
            pass
