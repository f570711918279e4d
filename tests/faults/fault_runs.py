"""Helpers of the fault tests: the small run they all use, a subprocess `retain`, one-thread runs."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from fault_workspace import SMALL


def small_args(*extra: str) -> list[str]:
    """`--preset demo --set ...` of the small run (replay, 3 tasks, 2 epochs, epoch checkpoints)."""
    args = ["--preset", "demo", "-q"]
    replaced = {item.split("=", 1)[0] for item in extra}  # an extra setting replaces SMALL's (the CLI refuses a key twice)
    for item in [*(s for s in SMALL if s.split("=", 1)[0] not in replaced), *extra]:
        args += ["--set", item]
    return args


def env(**extra: str) -> dict[str, str]:
    """The environment of a `retain` subprocess: this tree's sources, one compute thread (so every
    process computes the same floats), and `extra` (e.g. RETAIN_FAULT)."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "OMP_NUM_THREADS": "1", **extra}


FAULTY_RETAIN = str(Path(__file__).resolve().parent / "faulty_retain.py")


def retain(*args: str, cwd: Path | None = None, timeout: float = 300, **extra_env: str) -> subprocess.CompletedProcess:
    """Run `retain ARGS` (with the fault injector RETAIN_FAULT in `extra_env` describes) and wait for it."""
    return subprocess.run([sys.executable, FAULTY_RETAIN, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env(**extra_env))


@contextlib.contextmanager
def one_thread():
    """In-process runs with one torch thread, as the subprocesses (OMP_NUM_THREADS=1) compute."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def results(run_dir: Path) -> dict:
    return json.loads((run_dir / "results.json").read_text())


def leftovers(run_dir: Path) -> list[str]:
    """Temporary files an interrupted atomic write would leave, and digests without their checkpoint."""
    found = [p.name for p in run_dir.rglob(".*.tmp")]
    found += [p.name for p in run_dir.rglob("*.sha256") if not p.with_name(p.name[:-7]).exists()]
    return found
