"""Fault injection for the kill-and-resume tests: a run observer (retain.engine.observers) that
kills, interrupts or stops the process at a named moment of a run.

In this process: `with injected("evaluation@2", action="interrupt"): run(...)`.
In a `retain` subprocess: run `python faulty_retain.py <retain arguments>` (fault_runs.retain does)
with `RETAIN_FAULT=<moment>[@<task>]` (task numbered from 1; default: any task), optionally
`RETAIN_FAULT_ACTION=kill|interrupt|stop` (SIGKILL, KeyboardInterrupt, SIGSTOP: it keeps its
locks until continued or killed) and `RETAIN_FAULT_RANK=<rank>` (a distributed run: only that rank).

The moments are retain.engine.observers.MOMENTS and `mid-epoch`: half-way through the second
epoch of the task (never in a one-epoch task), counted from the run's training steps.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager

from retain.engine import observers

MOMENTS = (*observers.MOMENTS, "mid-epoch")
ACTIONS = ("kill", "interrupt", "stop")


class FaultInjector(observers.RunObserver):
    """Kills the process (or interrupts / stops it) when the run reaches `moment` in `task`."""

    def __init__(self, spec: str, action: str = "kill", rank: str | None = None) -> None:
        name, _, task = spec.partition("@")
        if name not in MOMENTS or action not in ACTIONS:
            raise ValueError(f"fault {spec!r} / action {action!r}: moments are {MOMENTS}, actions {ACTIONS}")
        self.spec, self.name, self.action, self.rank = spec, name, action, rank
        self.only_task = int(task) if task else None
        self.task: int | None = None
        self.steps, self.steps_per_epoch = 0, None

    def _armed(self, name: str) -> bool:
        if self.rank is not None and self.rank != os.environ.get("RANK", "0"):
            return False
        return name == self.name and (self.only_task is None or self.task is None or self.only_task == self.task)

    def moment(self, name: str) -> None:
        if self._armed(name):
            if self.action == "interrupt":
                raise KeyboardInterrupt(f"fault {self.spec}")
            os.kill(os.getpid(), signal.SIGSTOP if self.action == "stop" else signal.SIGKILL)

    def task_started(self, number: int) -> None:
        self.task, self.steps, self.steps_per_epoch = number, 0, None

    def step(self) -> None:
        self.steps += 1
        if self.steps_per_epoch is not None and self.steps >= self.steps_per_epoch * 3 // 2:
            self.moment("mid-epoch")

    def epoch_ended(self) -> None:
        if self.steps_per_epoch is None:  # the first epoch fixes how many steps an epoch has
            self.steps_per_epoch = max(2, self.steps)


@contextmanager
def injected(spec: str, action: str = "kill", rank: str | None = None) -> Iterator[FaultInjector]:
    """A FaultInjector installed for the block."""
    with observers.observing(FaultInjector(spec, action, rank)) as injector:
        yield injector


def install_from_environment() -> FaultInjector | None:
    """Install the injector RETAIN_FAULT / RETAIN_FAULT_ACTION / RETAIN_FAULT_RANK describe (none when unset)."""
    spec = os.environ.get("RETAIN_FAULT")
    if not spec:
        return None
    injector = FaultInjector(spec, os.environ.get("RETAIN_FAULT_ACTION", "kill"), os.environ.get("RETAIN_FAULT_RANK"))
    return observers.install(injector)
