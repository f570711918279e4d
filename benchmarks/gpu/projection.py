"""(e) The wall time of the whole `cifar100-b0-inc10` iCaRL protocol on this device, projected.

Rows per task come from the preset's own plan: `retain.run(preset, dry_run=True)` with the data
swapped for the synthetic dataset at CIFAR-100's size (`plan_only`: labels without pixels), plus
the memory (the preset's budget, 2,000 images, replayed from task 2 on); epochs are the
preset's (`first_epochs` for task 1, `epochs` after). Training time = rows × epochs ÷ the step
rate (d) measured at the preset's batch size: iCaRL's (teacher forward included) from task 2
on; task 1, which has no teacher, at replay's fp32 rate for the fp32 projection (at iCaRL's
rate, a little pessimistic, for bf16 + channels_last). Each task adds its memory update and evaluation, taken
from (a)'s iCaRL run on the device (same rows per task) with evaluation scaled by the classes
seen. The goal is under 10 minutes on one H100; missing it is reported, not failed.
"""

from __future__ import annotations

import contextlib
import io
from typing import Any

import retain
from benchmarks.gpu.context import Context, Skip
from benchmarks.gpu.cifar_like import DATASET_NAME
from benchmarks.gpu.report import Check
from benchmarks.gpu.runs import PLUGIN

PRESET = "cifar100-b0-inc10"
GOAL_MINUTES = 10.0


def run(ctx: Context) -> None:
    ctx.guarded(Check("e", f"{PRESET} iCaRL: projected wall time on {ctx.device}"), lambda check: _project(ctx, check))


def protocol_tasks() -> list[dict[str, int]]:
    """Each task's training rows (new + memory) and epochs under the preset, from its resolved plan."""
    config = retain.make_config(PRESET, method="icarl", imports=[str(PLUGIN)], device="cpu",
                                data={"name": DATASET_NAME, "download": False, "options": {"plan_only": True}})
    with contextlib.redirect_stdout(io.StringIO()):  # the dry run prints the plan
        plan = retain.run(config, dry_run=True)["plan"]
    memory = _images(config.memory.budget)
    first, later = config.train.first_epochs or config.train.epochs, config.train.epochs
    return [{"new": len(task["train_indices"]), "memory": 0 if index == 0 else memory, "seen": len(task["seen_classes"]),
             "epochs": first if index == 0 else later} for index, task in enumerate(plan["tasks"])]


def _images(budget: Any) -> int:
    text = str(budget).strip()
    if not text.endswith("images"):
        raise ValueError(f"the preset's memory.budget {text!r} is not a number of images; the projection needs one")
    return int(float(text.split()[0]))


def _project(ctx: Context, check: Check) -> None:
    icarl = ctx.shared.get("icarl_rates")
    if not icarl:
        raise Skip("skipped: needs (d)'s iCaRL step rate, which was not measured")
    replay = next((r["step loop img/s"] for r in ctx.shared.get("replay_rows", []) if r["variant"] == "fp32"), None)
    tasks = protocol_tasks()
    per_task = _overheads(ctx.shared.get("icarl-device"), tasks)
    projections = {}
    for label, rate in icarl.items():
        first_rate = replay if replay and label.startswith("device default") else rate
        train = sum((t["new"] + t["memory"]) * t["epochs"] / (first_rate if i == 0 else rate) for i, t in enumerate(tasks))
        projections[label] = (train + sum(per_task)) / 60
    check.details.update(tasks=tasks, rates=icarl, replay_rate_task1=replay, overhead_seconds=per_task,
                         projected_minutes=projections, goal_minutes=GOAL_MINUTES)
    best = min(projections.values())
    images = sum((t["new"] + t["memory"]) * t["epochs"] for t in tasks)
    check.set("info", "; ".join(f"{label}: {minutes:.1f} min" for label, minutes in projections.items())
              + f" ({images / 1e6:.1f} M training images)",
              f"goal < {GOAL_MINUTES:g} min: {'met' if best < GOAL_MINUTES else 'not met'}",
              "" if (per_task and any(per_task)) else "without memory-update/evaluation time ((a) measured none)")


def _overheads(device_run: dict[str, Any] | None, tasks: list[dict[str, int]]) -> list[float]:
    """Memory update + evaluation seconds of each protocol task, from (a)'s last task on the device."""
    if not device_run:
        return [0.0] * len(tasks)
    last = device_run["timings"]["tasks"][-1]
    seen_then = device_run["seen_classes"][-1]
    return [last["after_task_seconds"] + last["eval_seconds"] * t["seen"] / seen_then for t in tasks]
