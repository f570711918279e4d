"""(b) bf16 autocast + channels_last train within a stated tolerance of fp32.

The same iCaRL run as (a) (its fp32 device run is the reference when (a) made one; the
rehearsal makes a shorter pair) with `train.bf16: true` and `train.channels_last: true`. bf16 changes every rounding, so the runs
are compared by their summary accuracies, not bit for bit: |Δ| of the average incremental
accuracy within `--precision-tolerance` points, and of the last accuracy within twice that
(one task's accuracy moves more than the average over tasks).
"""

from __future__ import annotations

from typing import Any

from benchmarks.gpu import runs
from benchmarks.gpu.context import Context
from benchmarks.gpu.report import Check, judged
from benchmarks.gpu.runs import run_tree

METHOD = "icarl"


def run(ctx: Context) -> None:
    ctx.guarded(Check("b", f"{METHOD}: bf16 + channels_last ≈ fp32 on {ctx.device}"), lambda check: _compare(ctx, check))


def _compare(ctx: Context, check: Check) -> None:
    tolerance = ctx.options.precision_tolerance
    tasks, epochs = ctx.sizes.precision_run or (None, None)
    fp32 = ctx.shared.get(f"{METHOD}-device") if ctx.sizes.precision_run is None else None
    if fp32 is None:
        ctx.need(5)
        ctx.log(f"b {METHOD}: fp32 reference run on {ctx.device}")
        fp32 = runs.run_here(run_tree(ctx.sizes, ctx.device, METHOD, threads=ctx.threads, tasks=tasks, epochs=epochs,
                                      train={"bf16": False, "channels_last": False}), ctx.work / f"b-{METHOD}-fp32")
    ctx.need(5)
    ctx.log(f"b {METHOD}: bf16 autocast + channels_last run on {ctx.device}")
    low = runs.run_here(run_tree(ctx.sizes, ctx.device, METHOD, threads=ctx.threads, tasks=tasks, epochs=epochs,
                                 train={"bf16": True, "channels_last": True}), ctx.work / f"b-{METHOD}-bf16")
    average = _delta(fp32, low, "average_incremental_accuracy")
    last = _delta(fp32, low, "last_accuracy")
    check.details.update(fp32_metrics=fp32["metrics"], bf16_metrics=low["metrics"],
                         fp32_matrix=fp32["accuracy_matrix"], bf16_matrix=low["accuracy_matrix"],
                         fp32_images_per_second=fp32["timings"]["train_images_per_second"],
                         bf16_images_per_second=low["timings"]["train_images_per_second"])
    judged(check, average <= tolerance and last <= 2 * tolerance,
           f"|Δ average incremental| = {average:.2f}, |Δ last| = {last:.2f} points",
           f"≤ {tolerance:g} / ≤ {2 * tolerance:g} points",
           "bf16 + channels_last moves the accuracy by more than the tolerance")


def _delta(a: dict[str, Any], b: dict[str, Any], metric: str) -> float:
    return abs(a["metrics"][metric] - b["metrics"][metric])
