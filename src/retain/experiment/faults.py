"""A test hook that kills a run at a named moment, to prove that every moment resumes.

`RETAIN_FAULT=<moment>[@<task>]` (task numbered from 1; default: any task) makes the process
kill itself with SIGKILL when it reaches that moment; `RETAIN_FAULT_ACTION=interrupt` raises
KeyboardInterrupt instead (an in-process test can catch it) and `RETAIN_FAULT_ACTION=stop` stops
the process (SIGSTOP: it keeps its locks until it is continued or killed); in a distributed run
`RETAIN_FAULT_RANK=<rank>` limits it to that rank. Unset, every hook is one environment lookup. The moments:

* `start-up`: the run directory and config.yaml are written, nothing is trained yet;
* `mid-epoch`: half-way through the second epoch of the task (never in a one-epoch task);
* `checkpoint-write`: a checkpoint's bytes are in its temporary file, not yet renamed into place;
* `memory-update`: the method's `after_task` (memory rebuilt) ran, nothing of it is saved yet;
* `evaluation`: the task was evaluated, its results are not written yet;
* `report`: runs.csv is written, report.md is not.
"""

from __future__ import annotations

import os
import signal
from typing import Any

MOMENTS = ("start-up", "mid-epoch", "checkpoint-write", "memory-update", "evaluation", "report")
_ENV = "RETAIN_FAULT"
_state: dict[str, Any] = {"task": None, "steps": 0, "steps_per_epoch": None, "epochs": 0}


def _armed(moment: str) -> bool:
    spec = os.environ.get(_ENV)
    if not spec:
        return False
    only = os.environ.get("RETAIN_FAULT_RANK")  # a distributed run: only this rank faults
    if only is not None and only != os.environ.get("RANK", "0"):
        return False
    name, _, task = spec.partition("@")
    return name == moment and (not task or _state["task"] is None or int(task) == _state["task"])


def fault_point(moment: str) -> None:
    """Die here when RETAIN_FAULT names this moment (and the current task)."""
    if _armed(moment):
        action = os.environ.get("RETAIN_FAULT_ACTION", "kill")
        if action == "interrupt":
            raise KeyboardInterrupt(f"RETAIN_FAULT={os.environ[_ENV]}")
        os.kill(os.getpid(), signal.SIGSTOP if action == "stop" else signal.SIGKILL)


def enter_task(number: int, method: Any) -> None:
    """Record the task (from 1) being learned; under RETAIN_FAULT=mid-epoch, count its training steps."""
    _state.update(task=number, steps=0, steps_per_epoch=None, epochs=0)
    if not os.environ.get(_ENV, "").startswith("mid-epoch") or getattr(method, "_fault_counted", False):
        return
    loss = method.training_loss

    def counted(batch):
        _state["steps"] += 1
        per_epoch = _state["steps_per_epoch"]
        if per_epoch is not None and _state["steps"] >= per_epoch * 3 // 2:
            fault_point("mid-epoch")
        return loss(batch)

    method.training_loss = counted
    method._fault_counted = True


def epoch_ended() -> None:
    """After each epoch: the first one fixes how many steps an epoch has."""
    _state["epochs"] += 1
    if _state["steps_per_epoch"] is None:
        _state["steps_per_epoch"] = max(2, _state["steps"])
