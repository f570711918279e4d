"""Start-up and wind-down: what a researcher waits for besides training.

Each figure is the wall time of a fresh `python -m retain ...` process (median of the repeats):
`retain --version`, `retain list`, and the `demo` preset (`-q`, `train.threads=1`) split into
the time to its first training step, the run's own work (every
task's training, memory update and evaluation, from results.json), and the time after its last
step (the last task's memory update and evaluation, the end-of-run report, interpreter exit).
torch.optim's decorators import torch._dynamo (about 2 s) at the first step; retain's optimisers
skip them (engine/optim.py EagerOptimizer), so no run imports it (before, the import fell first
inside the first task's training time, then, imported at start-up, before the first step).
Targets on an idle 2-core machine (issue 26): --version < 0.5 s, list < 2 s, demo wall
< 1.5 x its training + evaluation. The CPU seconds (user + system of the child process) stay
meaningful on a busy machine, where wall seconds include the wait for a core.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.runner import BenchmarkResult, Settings

# The child records the wall clock at every training step (the first and the last are kept) with
# a run observer, which imports no torch: the run's own start-up is measured as a user gets it.
_DEMO = """
import json, sys, time
from retain.engine import observers
marks = {}
class Steps(observers.RunObserver):
    def step(self):
        marks.setdefault("first", time.time()); marks["last"] = time.time()
observers.install(Steps())
from retain.cli import main
try:
    main(["run", "--preset", "demo", "-q", "--set", "train.threads=1", "--set", "train.epochs=" + sys.argv[2], "--out", sys.argv[1]])
finally:
    open(sys.argv[1] + ".marks", "w").write(json.dumps(marks))
"""


def _children_cpu() -> float:
    """User + system CPU seconds of the finished child processes so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _wall(command: list[str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one run of `command`."""
    started, cpu = time.perf_counter(), _children_cpu()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started, _children_cpu() - cpu


def _demo_once(folder: Path, index: int, epochs: int) -> dict[str, float]:
    out = folder / f"demo-{index}"
    started, cpu = time.time(), _children_cpu()
    subprocess.run([sys.executable, "-c", _DEMO, str(out), str(epochs)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ended, cpu = time.time(), _children_cpu() - cpu
    marks = json.loads(Path(f"{out}.marks").read_text())
    tasks = json.loads((out / "results.json").read_text())["timings"]["tasks"]
    work = sum(t["before_and_train_seconds"] + t["after_task_seconds"] + t["eval_seconds"] for t in tasks)
    return {"wall": ended - started, "first_step": marks["first"] - started, "after_last_step": ended - marks["last"],
            "steps": marks["last"] - marks["first"], "train_and_eval": work, "cpu": cpu}


def run_benchmark(settings: Settings) -> BenchmarkResult:
    """Time --version, list and the demo run in fresh processes."""
    repeats = 1 if settings.tiny else settings.repeats
    epochs = 1 if settings.tiny else 20  # the demo preset's own epochs unless tiny
    retain = [sys.executable, "-m", "retain"]
    result = BenchmarkResult("startup", ["what", "seconds", "CPU seconds", "target", "repeats (s)"])
    version = [_wall([*retain, "--version"]) for _ in range(repeats)]
    listing = [_wall([*retain, "list"]) for _ in range(repeats)]
    with tempfile.TemporaryDirectory() as folder:
        demos = [_demo_once(Path(folder), i, epochs) for i in range(repeats)]

    def row(what: str, values: list[float], target: str = "", cpu: list[float] | None = None) -> None:
        result.rows.append({"what": what, "seconds": statistics.median(values), "target": target,
                            "CPU seconds": statistics.median(cpu) if cpu else None,
                            "repeats (s)": " ".join(f"{v:.2f}" for v in values)})

    row("retain --version", [w for w, _ in version], "< 0.5", [c for _, c in version])
    row("retain list", [w for w, _ in listing], "< 2", [c for _, c in listing])
    row("demo: start to first training step", [d["first_step"] for d in demos])
    row("demo: first training step to last", [d["steps"] for d in demos])
    row("demo: training + memory update + evaluation", [d["train_and_eval"] for d in demos])
    row("demo: last step to exit", [d["after_last_step"] for d in demos])
    row("demo: wall", [d["wall"] for d in demos], "", [d["cpu"] for d in demos])
    ratio = statistics.median(d["wall"] / d["train_and_eval"] for d in demos)
    result.summary["demo wall / (training + evaluation)"] = ratio
    result.notes.append("demo: `retain run --preset demo -q --set train.threads=1` "
                        f"({epochs} epochs a task); target wall < 1.5 x training + evaluation")
    try:
        result.notes.append(f"load average at the end: {', '.join(f'{v:.2f}' for v in os.getloadavg())} "
                            "(figures on a busy machine are upper bounds)")
    except OSError:  # pragma: no cover - not on every platform
        pass
    return result
