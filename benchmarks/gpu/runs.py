"""retain runs for the GPU check, through the public door only: config trees, `retain.run` in this
process, `python -m retain run` / `--resume` subprocesses killed at a checkpoint, results compared.

Nothing here imports retain's internal modules (they are being moved); the run directory's
documented files (`results.json`, `checkpoints/latest.json`) are the interface.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml

import retain
from benchmarks.gpu.cifar_like import DATASET_NAME

LIVE: set[subprocess.Popen] = set()  # processes started here and not yet ended (the watchdog kills them)

PLUGIN = Path(__file__).resolve().with_name("cifar_like.py")
DETERMINISTIC_PLUGIN = Path(__file__).resolve().with_name("deterministic.py")


@dataclass(frozen=True)
class Sizes:
    """How big every check is: full (CIFAR-100's size, minutes on a GPU) or quick (the CPU rehearsal)."""

    train_per_class: int       # of the dataset's 100 classes
    test_per_class: int
    noise: float               # pixel noise of the synthetic images (0-255 scale): how hard they are
    increment: int             # classes per task
    tasks: int                 # tasks trained (of 100 / increment)
    epochs: int                # per task; at least 2, so that a kill can land mid-task after an epoch checkpoint
    batch_size: int
    memory: int                # exemplars (images' worth of bytes)
    resume_methods: tuple[str, ...]  # methods whose run is killed and resumed
    precision_run: tuple[int, int] | None  # (b)'s (tasks, epochs); None: (a)'s, reusing its fp32 device run
    nproc_tasks: int
    speed_batches: tuple[int, ...]
    speed_variants: tuple[str, ...]  # (d)'s precision / memory-format variants (speed.VARIANTS)
    speed_steps: int           # optimiser steps per timed repeat
    speed_repeats: int
    speed_warmup: int          # untimed calls before the timed ones
    compile_backend: str       # torch.compile backend for (d)
    compile_variants: int      # (d) torch.compile variants tried (budget allowing)
    rq_grid: tuple[int, ...]   # MRDC's JPEG qualities searched at the end of task 1


ALL_VARIANTS = ("fp32", "bf16", "channels_last", "bf16 + channels_last")
FULL = Sizes(train_per_class=500, test_per_class=100, noise=80.0, increment=10, tasks=3, epochs=2, batch_size=128,
             memory=2000, resume_methods=("icarl", "mrdc"), precision_run=None, nproc_tasks=2,
             speed_batches=(128, 512), speed_variants=ALL_VARIANTS, speed_steps=40, speed_repeats=3, speed_warmup=1,
             compile_backend="inductor", compile_variants=4, rq_grid=(90, 70, 50))
# The CPU rehearsal: every code path once, at sizes where a step is a few images. bf16 autocast
# runs ~10x slower than fp32 on a CPU without bf16 units, so it is kept to one short run and one variant.
QUICK = Sizes(train_per_class=4, test_per_class=5, noise=15.0, increment=2, tasks=3, epochs=2, batch_size=4,
              memory=100, resume_methods=("icarl",), precision_run=(1, 1), nproc_tasks=2,
              speed_batches=(4,), speed_variants=("fp32", "bf16 + channels_last"), speed_steps=2, speed_repeats=1,
              speed_warmup=0, compile_backend="eager", compile_variants=1, rq_grid=(90, 50))

METHODS = ("icarl", "mrdc")


def run_tree(sizes: Sizes, device: str, method: str, *, threads: int | None, train: dict[str, Any] | None = None,
             tasks: int | None = None, epochs: int | None = None, deterministic: bool = False) -> dict[str, Any]:
    """The config of one CIFAR-shaped run as a tree: ResNet-32, augmentation, SGD and batches as
    cifar100-b0-inc10 (crop + flip + brightness, lr 0.1, short batches kept), a constant schedule."""
    memory: dict[str, Any] = {"budget": f"{sizes.memory} images"}
    method_section: dict[str, Any] = {"name": method}
    if method == "mrdc":  # JPEG exemplars at the quality the Rq criterion picks after task 1
        memory.update(codec="jpeg", quality="auto", shared_header=False)
        method_section["rq_grid"] = list(sizes.rq_grid)
    imports = [str(PLUGIN)] + ([str(DETERMINISTIC_PLUGIN)] if deterministic else [])
    return {
        "imports": imports,
        "seed": 0,
        "device": device,
        "data": {"name": DATASET_NAME, "download": False,
                 "options": {"train_per_class": sizes.train_per_class, "test_per_class": sizes.test_per_class,
                             "noise": sizes.noise}},
        "scenario": {"kind": "class-incremental", "base": 0, "increment": sizes.increment,
                     "num_tasks": tasks or sizes.tasks, "order": "shuffle", "order_seed": 1993},
        "model": {"backbone": "resnet32"},
        "method": method_section,
        "memory": memory,
        "augment": {"crop_padding": 4, "flip": True, "brightness": 63 / 255, "normalize": True},
        "train": {"epochs": epochs or sizes.epochs, "batch_size": sizes.batch_size, "lr": 0.1, "momentum": 0.9,
                  "weight_decay": 5e-4, "schedule": "constant", "drop_last": False,
                  **({"threads": threads} if threads else {}), **(train or {})},
        "eval": {"batch_size": 1000},
        "checkpoint": {"every_epochs": 1},
        "logging": {"tensorboard": False, "report": False},
    }


def run_here(tree: dict[str, Any], out: Path) -> dict[str, Any]:
    """`retain.run` in this process; returns results.json as written (JSON's nulls, not NaNs)."""
    threads = torch.get_num_threads()  # a run with train.threads sets this process's threads
    try:
        retain.run(copy.deepcopy(tree), out=out, quiet=True)
    finally:
        torch.set_num_threads(threads)
    return load(out)


def load(run_dir: Path) -> dict[str, Any]:
    return json.loads((Path(run_dir) / "results.json").read_text())


# ---------------------------------------------------------------------- subprocesses
def child_env() -> dict[str, str]:
    """This environment, with the retain this process imported first on the path (a checkout's src/)."""
    env = dict(os.environ)
    source = str(Path(retain.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (source, str(Path(__file__).resolve().parents[2]),
                                                    env.get("PYTHONPATH", "")) if p)
    return env


def retain_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "retain", *args]


def write_config(tree: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(tree, sort_keys=False))
    return path


def marker(run_dir: Path) -> dict[str, Any] | None:
    """checkpoints/latest.json: which checkpoint is the newest (None before the first)."""
    try:
        return json.loads((Path(run_dir) / "checkpoints" / "latest.json").read_text())
    except (OSError, ValueError):
        return None


@dataclass
class Attempt:
    """One `retain run` process: killed at a checkpoint, finished, or stopped by the time limit."""

    command: list[str]
    killed_at: dict[str, Any] | None = None   # the latest.json seen when it was killed
    returncode: int | None = None
    seconds: float = 0.0
    timed_out: bool = False
    log_tail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.killed_at is None and not self.timed_out and self.returncode == 0


def attempt(command: list[str], run_dir: Path, log: Path, timeout_s: float,
            kill_when: Callable[[dict[str, Any]], bool] | None = None) -> Attempt:
    """Run `command`; SIGKILL it as soon as latest.json satisfies `kill_when` (polled every 10 ms)."""
    result = Attempt(command)
    started = time.perf_counter()
    before = marker(run_dir)  # a resumed run starts from this checkpoint: only a newer one may trigger the kill
    with open(log, "ab") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=child_env())
        LIVE.add(process)
        try:
            while process.poll() is None:
                if kill_when is not None:
                    seen = marker(run_dir)
                    if seen is not None and seen != before and kill_when(seen):
                        process.send_signal(signal.SIGKILL)
                        process.wait()
                        result.killed_at = seen
                        break
                if time.perf_counter() - started > timeout_s:
                    process.send_signal(signal.SIGKILL)
                    process.wait()
                    result.timed_out = True
                    break
                time.sleep(0.01)
        finally:
            if process.poll() is None:  # an exception while polling: never leave it running
                process.kill()
                process.wait()
            LIVE.discard(process)
    result.returncode = process.returncode
    result.seconds = time.perf_counter() - started
    result.log_tail = _tail(log)
    return result


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# ---------------------------------------------------------------------- comparing results
def compared_keys(results: dict[str, Any], tasks: int | None = None) -> dict[str, Any]:
    """What must be bit-identical between a run and its resumed copy: every score set's accuracy
    matrix, the stage accuracies (top-1 and top-5) and the ledger, up to `tasks` tasks."""
    rows = slice(0, tasks)
    return {
        "accuracy": {score: [row for row in values["matrix"][rows]] for score, values in results["accuracy"].items()},
        "stage_accuracy": results["stage_accuracy"][rows],
        "stage_accuracy_top5": results.get("stage_accuracy_top5", [])[rows],
        "ledger": results.get("ledger", [])[rows],
    }


def differences(a: dict[str, Any], b: dict[str, Any], tasks: int | None = None) -> list[str]:
    """The compared entries (see `compared_keys`) in which two results differ; empty when bit-identical."""
    left, right = compared_keys(a, tasks), compared_keys(b, tasks)
    out = []
    for key in left:
        if key == "accuracy":
            for score in sorted(set(left[key]) | set(right[key])):
                if left[key].get(score) != right[key].get(score):
                    out.append(f"accuracy[{score}]")
        elif left[key] != right[key]:
            out.append(key)
    return out


def lower_triangle(matrix: list[list[float | None]]) -> list[float]:
    return [value for i, row in enumerate(matrix) for j, value in enumerate(row) if j <= i and value is not None]


def max_abs_difference(a: list[list[float | None]], b: list[list[float | None]]) -> float:
    """The largest |a − b| over the entries both matrices have (the lower triangle), in points."""
    left, right = lower_triangle(a), lower_triangle(b)
    if len(left) != len(right) or not left:
        return float("inf")
    return max(abs(x - y) for x, y in zip(left, right))


class Background:
    """A `retain run` started now and waited for later (the CPU reference runs beside the device runs)."""

    def __init__(self, command: list[str], log: Path) -> None:
        self.command = command
        self.log = log
        self.started = time.perf_counter()
        with open(log, "ab") as sink:
            self.process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=child_env())
        LIVE.add(self.process)

    def done(self) -> bool:
        return self.process.poll() is not None

    def wait(self, timeout_s: float) -> Attempt:
        """Wait at most `timeout_s` for it to end (then it is killed and marked timed out)."""
        result = Attempt(self.command)
        try:
            self.process.wait(timeout=max(timeout_s, 0.01))
        except subprocess.TimeoutExpired:
            self.stop()
            result.timed_out = True
        result.returncode = self.process.returncode
        result.seconds = time.perf_counter() - self.started
        result.log_tail = _tail(self.log)
        return result

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        LIVE.discard(self.process)


def stop_all() -> None:
    """Kill every process this check started that is still running (each by its own handle)."""
    for process in list(LIVE):
        if process.poll() is None:
            process.kill()
        LIVE.discard(process)
