"""(c) One run on 1 process and, with two devices (GPUs, or the CPU), on 2 processes with one memory.

`distributed.nproc: 1` through retain's launch (runs/processes.py), then `distributed.nproc: 2` (NCCL on GPUs,
gloo on the CPU): at every task boundary every rank's memory digest must be the same and the
method states equal, with no state repair (results.json `distributed`, docs/distributed.md). The
accuracy of 2 processes against 1 is reported, not judged: the batch is split across ranks
(BatchNorm over half the rows), so it is close to, not equal with, one process.
On CUDA the device is `auto` (each rank takes GPU LOCAL_RANK), which this also exercises.
"""

from __future__ import annotations

import torch

from benchmarks.gpu import runs
from benchmarks.gpu.context import Context, Skip
from benchmarks.gpu.report import Check, judged
from benchmarks.gpu.runs import run_tree

METHOD = "icarl"


def run(ctx: Context) -> None:
    one = ctx.guarded(Check("c", f"{METHOD}: --nproc 1 on {_device(ctx)}"), lambda check: _one(ctx, check))
    ctx.guarded(Check("c", f"{METHOD}: --nproc 2 over {'NCCL' if ctx.cuda else 'gloo'}, one memory digest"),
                lambda check: _two(ctx, check, one))


def _device(ctx: Context) -> str:
    return "auto" if ctx.cuda else ctx.device


def _tree(ctx: Context, nproc: int) -> dict:
    tree = run_tree(ctx.sizes, _device(ctx), METHOD, threads=ctx.threads, tasks=ctx.sizes.nproc_tasks, epochs=1)
    tree["distributed"] = {"nproc": nproc}
    return tree


def _one(ctx: Context, check: Check) -> dict:
    ctx.need(5)
    ctx.log(f"c {METHOD}: distributed.nproc=1")
    results = runs.run_here(_tree(ctx, 1), ctx.work / "c-nproc1")
    check.details.update(metrics=results["metrics"], timings=results["timings"])
    judged(check, bool(results.get("complete")), f"last accuracy {results['metrics']['last_accuracy']:.2f}, "
           f"{results['timings']['train_images_per_second']:,.0f} train img/s", "completes", "the run did not complete")
    return results


def _two(ctx: Context, check: Check, one: dict | None) -> None:
    if ctx.cuda and torch.cuda.device_count() < 2:
        raise Skip(f"skipped: {torch.cuda.device_count()} GPU on this machine (NCCL needs a GPU per rank)")
    ctx.need(10)
    ctx.log(f"c {METHOD}: distributed.nproc=2")
    results = runs.run_here(_tree(ctx, 2), ctx.work / "c-nproc2")
    summary = results.get("distributed") or {}
    boundaries = summary.get("task_boundaries", [])
    unequal = [b for b in boundaries if len(set(b["memory_digests"])) != 1 or not b["state_equal"]]
    repairs = summary.get("state_repairs")
    delta = abs(results["metrics"]["last_accuracy"] - one["metrics"]["last_accuracy"]) if one else float("nan")
    check.details.update(distributed=summary, metrics=results["metrics"], timings=results["timings"], last_accuracy_delta=delta)
    ok = bool(results.get("complete")) and summary.get("nproc") == 2 and boundaries and not unequal and repairs == 0
    judged(check, ok, f"{len(boundaries) - len(unequal)}/{len(boundaries)} boundaries with one digest, {repairs} repairs; "
           f"last accuracy {results['metrics']['last_accuracy']:.2f} (Δ {delta:.2f} vs 1 process, not judged)",
           "equal digests, 0 repairs", "the ranks' memories or states differed at a task boundary")
