"""The common runner: repeated timing, machine facts, and the JSON + Markdown outputs."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

RESULTS_DIR = Path(__file__).resolve().parent / "results"


@dataclass
class Settings:
    """What every benchmark is asked for: how many repeats, how small, on which device."""

    repeats: int = 5
    quick: bool = False
    device: str = "cpu"
    tiny: bool = False  # the smoke test's sizes: seconds in all, figures meaningless
    threads: int | None = None  # torch intra-op threads for every side of a comparison (None: torch's default)
    clock: str = "wall"  # "cpu": process CPU time, steadier than wall time on a loaded machine (1 thread)
    images: int | None = None  # encoded_data: the generated folder's training images


@dataclass
class Timing:
    """Seconds of every repeat; the figure reported is the median."""

    seconds: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def spread(self) -> float:
        """(max − min) / median: how noisy the repeats were."""
        return (max(self.seconds) - min(self.seconds)) / self.median if self.median > 0 else 0.0


def repeat(fn: Callable[[], Any], repeats: int, warmup: int = 1, sync: str = "cpu", clock: str = "wall") -> Timing:
    """Run `fn` warmup + repeats times and keep the time of the timed repeats (wall seconds,
    or process CPU seconds with clock="cpu")."""
    now = _clock(clock, sync)
    for _ in range(warmup):
        fn()
    seconds = []
    for _ in range(repeats):
        synchronize(sync)
        started = now()
        fn()
        synchronize(sync)
        seconds.append(now() - started)
    return Timing(seconds)


def _clock(clock: str, sync: str) -> Callable[[], float]:
    if clock not in ("wall", "cpu"):
        raise ValueError(f"clock must be 'wall' or 'cpu', got {clock!r}")
    if clock == "cpu" and torch.device(sync).type == "cuda":
        raise ValueError("clock='cpu' cannot time GPU work; use the wall clock with --device cuda")
    return time.process_time if clock == "cpu" else time.perf_counter


def interleaved(
    fns: dict[str, Callable[[], Any]], repeats: int, warmup: int = 1, sync: str = "cpu", clock: str = "wall"
) -> dict[str, Timing]:
    """Time several functions in turns (a, b, a, b, ...) so that a shared machine's load
    falls on all of them alike; the ratio of two medians is then a fair comparison.

    `clock="cpu"` times the process's CPU seconds instead of wall seconds: with one torch
    thread on a machine shared with other jobs it no longer counts the time spent waiting
    for a core (it cannot see GPU time, so it is refused for CUDA)."""
    now = _clock(clock, sync)
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    seconds: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            synchronize(sync)
            started = now()
            fn()
            synchronize(sync)
            seconds[name].append(now() - started)
    return {name: Timing(values) for name, values in seconds.items()}


def synchronize(device: str | torch.device) -> None:
    """Wait for queued device work so that wall time covers it (a no-op on CPU)."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


@dataclass
class BenchmarkResult:
    """One benchmark's rows (dicts of column → value), its column order and its notes."""

    name: str
    columns: list[str]
    rows: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)


def machine() -> dict[str, Any]:
    """The facts a figure depends on: cores, threads, torch/python versions, device."""
    info: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    try:
        info["load_average"] = os.getloadavg()
    except OSError:  # pragma: no cover - not on every platform
        info["load_average"] = None
    return info


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if value == 0 or abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 1:
            return f"{value:.2f}"
        return f"{value:.3g}"
    return "" if value is None else str(value)


def markdown(result: BenchmarkResult, settings: Settings, info: dict[str, Any]) -> str:
    """The result as a Markdown section: a table, its notes and the machine line."""
    lines = [f"### {result.name}", ""]
    lines.append("| " + " | ".join(result.columns) + " |")
    lines.append("|" + "|".join("---" for _ in result.columns) + "|")
    for row in result.rows:
        lines.append("| " + " | ".join(_cell(row.get(c)) for c in result.columns) + " |")
    lines.append("")
    for key, value in result.summary.items():
        lines.append(f"- **{key}**: {_cell(value)}")
    for note in result.notes:
        lines.append(f"- {note}")
    lines.append(
        f"- machine: {info['cpu_count']} cores, {info['torch_threads']} torch threads, torch {info['torch']}, "
        f"python {info['python']}, device {settings.device}; median of {settings.repeats} repeats"
        + (" of process CPU time (--clock cpu)" if settings.clock == "cpu" else "")
        + (" (--quick sizes)" if settings.quick else "")
    )
    return "\n".join(lines) + "\n"


def write(result: BenchmarkResult, settings: Settings, out_dir: Path = RESULTS_DIR) -> str:
    """Write <name>.json and <name>.md under `out_dir`; returns the Markdown."""
    info = machine()
    out_dir.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": result.name,
        "settings": {"repeats": settings.repeats, "quick": settings.quick, "device": settings.device,
                     "threads": settings.threads, "clock": settings.clock},
        "machine": info,
        "columns": result.columns,
        "rows": result.rows,
        "summary": result.summary,
        "notes": result.notes,
        "written": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    (out_dir / f"{result.name}.json").write_text(json.dumps(payload, indent=2, default=str) + "\n")
    text = markdown(result, settings, info)
    (out_dir / f"{result.name}.md").write_text(text)
    return text
