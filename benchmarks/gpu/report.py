"""The GPU check's report: one record per check, the machine, written as JSON + Markdown after every check.

A check ends in one status: `pass` / `fail` (a figure against a stated tolerance), `info` (a
measurement with no pass/fail, such as the projection), `skipped` (with the reason: no second
GPU, no encoded data path, the deadline). The report is rewritten after each check, so a run
that dies or is stopped leaves the checks it finished on disk.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

STATUSES = ("pass", "fail", "info", "skipped")


@dataclass
class Check:
    """One check: its key (a-f plus a name), what it compares, its outcome, figures and tolerance."""

    key: str
    title: str
    status: str = "skipped"
    figure: str = ""              # the measured figure in words, e.g. "max |Δ| = 0.40 points"
    tolerance: str = ""           # the stated tolerance, e.g. "≤ 5.0 points"
    reason: str = ""              # why it failed or was skipped
    seconds: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)
    table: list[dict[str, Any]] = field(default_factory=list)  # rows shown under the summary (d's variants)

    def set(self, status: str, figure: str = "", tolerance: str = "", reason: str = "") -> "Check":
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
        self.status, self.figure, self.tolerance, self.reason = status, figure, tolerance or self.tolerance, reason
        return self


def judged(check: Check, ok: bool, figure: str, tolerance: str, reason_if_not: str = "") -> Check:
    """pass when `ok`, else fail with `reason_if_not`."""
    return check.set("pass" if ok else "fail", figure, tolerance, "" if ok else reason_if_not)


def environment(device: str) -> dict[str, Any]:
    """What the figures depend on: torch, CUDA, GPU, driver, cores, threads, python."""
    info: dict[str, Any] = {
        "torch": torch.__version__,
        "cuda_build": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "cuda_available": torch.cuda.is_available(),
        "gpu_count": torch.cuda.device_count() if torch.cuda.is_available() else 0,
        "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else [],
        "driver": _nvidia_driver(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": device,
    }
    try:
        from retain.version import __version__

        info["retain"] = __version__
    except ImportError:  # pragma: no cover - retain is installed wherever this runs
        info["retain"] = None
    info["git"] = _git_revision()
    return info


def _nvidia_driver() -> str | None:
    """The NVIDIA driver version from nvidia-smi, when there is one (a few ms; never fails)."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version,memory.total", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None


def _git_revision() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10,
                             cwd=Path(__file__).resolve().parent)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


class Report:
    """The checks so far, the environment and the settings; `write()` puts both files in `out_dir`."""

    def __init__(self, out_dir: Path, settings: dict[str, Any], device: str) -> None:
        self.out_dir = Path(out_dir)
        self.settings = settings
        self.environment = environment(device)
        self.checks: list[Check] = []
        self.started = time.perf_counter()
        self.started_at = time.strftime("%Y-%m-%d %H:%M:%S")
        self.finished = False

    @property
    def json_path(self) -> Path:
        return self.out_dir / "gpu.json"

    @property
    def markdown_path(self) -> Path:
        return self.out_dir / "gpu.md"

    @property
    def wall_seconds(self) -> float:
        return time.perf_counter() - self.started

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.status == "fail"]

    def add(self, check: Check) -> Check:
        self.checks.append(check)
        return check

    def write(self) -> None:
        """Both files, atomically (temporary file, then rename): a reader never sees half a report."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        payload = {
            "report": "gpu",
            "started": self.started_at,
            "wall_seconds": round(self.wall_seconds, 1),
            "finished": self.finished,
            "passed": not self.failed,
            "settings": self.settings,
            "environment": self.environment,
            "checks": [asdict(c) for c in self.checks],
        }
        _atomic_write(self.json_path, json.dumps(payload, indent=2, default=_json_default) + "\n")
        _atomic_write(self.markdown_path, self.markdown())

    def markdown(self) -> str:
        env = self.environment
        gpus = ", ".join(env["gpus"]) or "none"
        lines = [
            f"# retain GPU check ({self.settings.get('device')}{', --quick' if self.settings.get('quick') else ''})",
            "",
            f"Started {self.started_at}; wall time {self.wall_seconds:.0f} s"
            + ("" if self.finished else " (**not finished**: the report was written before the last check ended)")
            + f"; deadline {self.settings.get('deadline_s')} s. "
            + ("**All checks passed or were skipped.**" if not self.failed else f"**{len(self.failed)} check(s) failed.**"),
            "",
            "| check | status | figure | tolerance | s | note |",
            "|---|---|---|---|---|---|",
        ]
        for c in self.checks:
            cells = [f"{c.key} {_escaped(c.title)}", c.status, _escaped(c.figure), _escaped(c.tolerance), f"{c.seconds:.0f}",
                     _escaped(c.reason)]
            lines.append("| " + " | ".join(cells) + " |")
        for c in self.checks:
            if c.table:
                lines += ["", f"### {c.key} {c.title}", "", *_table(c.table)]
        lines += [
            "",
            f"Environment: torch {env['torch']}, CUDA build {env['cuda_build']}, cuDNN {env['cudnn']}, "
            f"GPUs: {gpus} (driver {env['driver']}), {env['cpu_count']} CPU cores, {env['torch_threads']} torch threads, "
            f"python {env['python']}, retain {env['retain']} ({env['git']}), {env['platform']}.",
            "",
            "Details of every check (matrices, rates, digests, tracebacks) are in gpu.json.",
        ]
        return "\n".join(lines) + "\n"


def _escaped(text: str) -> str:
    """Text for one Markdown table cell: a "|" (as in |Δ|) would end the cell."""
    return (text or "").replace("|", "\\|").replace("\n", " ")


def _table(rows: list[dict[str, Any]]) -> list[str]:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(column)) for column in columns) + " |")
    return lines


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}"
    return "" if value is None else _escaped(str(value))


def _json_default(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return str(value)


def _atomic_write(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text)
    os.replace(temporary, path)
