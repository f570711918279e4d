"""Run observers: objects told where a run is (a named moment, a task started, a training step,
an epoch ended), installed from outside the run. They watch; they change nothing the run computes.

The fault-injection tests install one that kills the process at a named moment
(tests/faults/injector.py); a profiler or a progress probe could be another. The run calls the
module functions below at each point; with no observer installed each call is a loop over an
empty list. Observers installed before a distributed run's ranks are forked are in every rank.

The moments the run announces:

* `start-up`: the run directory and config.yaml are written, nothing is trained yet;
* `checkpoint-write`: a checkpoint's bytes are in its temporary file, not yet renamed into place;
* `memory-update`: the method's `after_task` (memory rebuilt) ran, nothing of it is saved yet;
* `evaluation`: the task was evaluated, its results are not written yet;
* `report`: runs.csv is written, report.md is not.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

MOMENTS = ("start-up", "checkpoint-write", "memory-update", "evaluation", "report")


class RunObserver:
    """Base of a run observer: every hook does nothing; override the ones you need."""

    def moment(self, name: str) -> None:
        """The run reached the named moment (one of MOMENTS)."""

    def task_started(self, number: int) -> None:
        """Task `number` (counted from 1) is about to be learned."""

    def step(self) -> None:
        """A training step is about to compute its loss."""

    def epoch_ended(self) -> None:
        """An epoch of training ended."""


_installed: list[RunObserver] = []


def install(observer: RunObserver) -> RunObserver:
    """Tell `observer` about every run in this process from now on (until `remove`)."""
    _installed.append(observer)
    return observer


def remove(observer: RunObserver) -> None:
    """Stop telling `observer`; one not installed is ignored."""
    if observer in _installed:
        _installed.remove(observer)


@contextmanager
def observing(observer: RunObserver) -> Iterator[RunObserver]:
    """`observer` installed for the duration of the block."""
    install(observer)
    try:
        yield observer
    finally:
        remove(observer)


def moment(name: str) -> None:
    """Announce a named moment to every observer."""
    for observer in list(_installed):
        observer.moment(name)


def task_started(number: int) -> None:
    """Announce that task `number` (from 1) starts."""
    for observer in list(_installed):
        observer.task_started(number)


def step() -> None:
    """Announce a training step."""
    for observer in list(_installed):
        observer.step()


def epoch_ended() -> None:
    """Announce the end of an epoch."""
    for observer in list(_installed):
        observer.epoch_ended()
