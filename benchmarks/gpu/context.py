"""What every check is handed: the device, the sizes, a work folder, the report, the clock."""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, TypeVar

from benchmarks.gpu.report import Check, Report
from benchmarks.gpu.runs import Sizes

T = TypeVar("T")


class Skip(Exception):
    """The check does not apply here (no second GPU, no encoded data path, a failed prerequisite)
    or has no time left; its message is the reason reported."""


class OutOfTime(Skip):
    """A check's budget or the global deadline is spent: what is left of it is skipped."""


@dataclass
class Context:
    """One invocation of the check. `shared` carries figures from one check to a later one (the
    fp32 iCaRL run of (a) is (b)'s reference; (d)'s step rates feed (e)'s projection)."""

    device: str
    sizes: Sizes
    threads: int | None          # torch threads of every run (quick: 1); None: torch's default
    work: Path                   # run directories and logs
    report: Report
    deadline: float              # time.perf_counter() after which nothing new starts
    options: Any                 # the parsed command line
    cpu_threads: int | None = None  # torch threads of the CPU reference runs
    perturbation: dict[str, float] = field(default_factory=dict)  # test-only: method -> points added to its matrix
    shared: dict[str, Any] = field(default_factory=dict)
    group_end: float = 0.0       # the end of the running check's budget

    @property
    def cuda(self) -> bool:
        return self.device.startswith("cuda")

    def remaining(self) -> float:
        """Seconds left to the running check (its budget, capped by the global deadline)."""
        return min(self.group_end, self.deadline) - time.perf_counter()

    def need(self, seconds: float = 1.0) -> float:
        """The seconds left, or OutOfTime when fewer than `seconds` are."""
        left = self.remaining()
        if left < seconds:
            spent = "global deadline" if self.deadline <= self.group_end else "check's time budget"
            raise OutOfTime(f"skipped: the {spent} was reached")
        return left

    def log(self, message: str) -> None:
        print(f"[gpu-check {self.report.wall_seconds:6.1f}s] {message}", flush=True)

    def record(self, check: Check, started: float | None = None) -> Check:
        """Add a finished check to the report, write the report, print its line."""
        if started is not None:
            check.seconds = time.perf_counter() - started
        self.report.add(check)
        self.report.write()
        figure = f" {check.figure}" if check.figure else ""
        tolerance = f" (tolerance {check.tolerance})" if check.tolerance else ""
        reason = f" — {check.reason}" if check.reason else ""
        self.log(f"{check.key} {check.title}: {check.status.upper()}{figure}{tolerance}{reason}")
        return check

    def failed(self, check: Check, error: BaseException, started: float) -> Check:
        """Record `check` as failed by an exception (its last line; the traceback goes to the details)."""
        check.details["traceback"] = traceback.format_exc(limit=12)
        first = (str(error).strip().splitlines() or [""])[0][:300]
        return self.record(check.set("fail", reason=f"{type(error).__name__}: {first}"), started)

    def skipped(self, check: Check, reason: str, started: float | None = None) -> Check:
        return self.record(check.set("skipped", reason=reason), started)

    def guarded(self, check: Check, body: Callable[[Check], T]) -> T | None:
        """Run `body(check)` (which sets the check's status) and record the check; an exception
        fails it, OutOfTime skips it, and either way the caller goes on with the next check."""
        started = time.perf_counter()
        try:
            value = body(check)
        except Skip as error:
            self.skipped(check, str(error), started)
            return None
        except Exception as error:  # noqa: BLE001 - one failing check must not stop the others
            self.failed(check, error, started)
            return None
        self.record(check, started)
        return value
