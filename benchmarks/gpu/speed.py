"""(d) The step loop against bare forward/backward of the same network, and host syncs per step.

ResNet-32 on 32×32×3 synthetic rows, replay with a raw memory (task rows : memory rows = 5 : 2,
as cifar100-b0-inc10's iCaRL tasks), crop + flip: (a) forward + loss + backward + SGD step on one
pre-made augmented batch, (b) `train_task` over an epoch of the same number of steps, timed in
turns (benchmarks.runner.interleaved), at each of `sizes.speed_batches` in fp32, bf16 autocast,
channels_last and both. Then:

* host synchronisations per step of replay and of iCaRL (teacher + distillation): on a GPU
  `torch.cuda.set_sync_debug_mode("warn")` — CUDA's own detector, which flags every operation
  that makes the host wait (`.item()`, copies to the host, `nonzero`, synchronize) wherever it
  comes from, retain or torch; on the CPU the reads of tensors a GPU run would keep on the device
  (benchmarks/host_sync.py). Counted over one epoch of N and one of N/2 steps, so the epoch's own
  reads (its mean loss) cancel: per step = (count(N) − count(N/2)) / (N − N/2). Target: 0;
* iCaRL's step rate (teacher forward included) at the first batch size, for (e)'s projection;
* torch.compile of the backbone (the growing head stays eager), for as many variants as the
  budget allows; a compile error is reported as "not supported" with its reason.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from benchmarks.gpu import internals
from benchmarks.gpu.context import Context
from benchmarks.gpu.report import Check, judged

VARIANTS: dict[str, dict[str, bool]] = {
    "fp32": {"bf16": False, "channels_last": False},
    "bf16": {"bf16": True, "channels_last": False},
    "channels_last": {"bf16": False, "channels_last": True},
    "bf16 + channels_last": {"bf16": True, "channels_last": True},
}
COMPILED_ORDER = ("fp32", "bf16 + channels_last", "bf16", "channels_last")  # tried in this order, budget allowing
COMPILE_NEEDS_S = 60.0  # a ResNet-32 inductor compile (forward + backward, two copies) on a GPU machine


def run(ctx: Context) -> None:
    datasets: dict[int, Any] = {}
    rows: list[dict[str, Any]] = []
    ctx.guarded(Check("d", "step loop vs bare forward/backward (eager)"), lambda check: _eager(ctx, check, datasets, rows))
    ctx.guarded(Check("d", "host syncs per step (replay, iCaRL)"), lambda check: _syncs(ctx, check, datasets))
    ctx.guarded(Check("d", "iCaRL step rate (teacher included)"), lambda check: _icarl(ctx, check, datasets))
    ctx.guarded(Check("d", f"torch.compile of the backbone ({ctx.options.compile_backend})"),
                lambda check: _compiled(ctx, check, datasets))


def _sizes(ctx: Context, batch: int) -> internals.Sizes:
    return internals.Sizes(batch_size=batch, steps=ctx.sizes.speed_steps, workers=0)


def _prepared(ctx: Context, datasets: dict[int, Any], batch: int, method: str = "replay", train: dict | None = None):
    sizes = _sizes(ctx, batch)
    if batch not in datasets:
        datasets[batch] = internals.prepare_dataset(internals.RESNET32, sizes)
    settings = internals.Settings(device=ctx.device)
    run, task = internals.prepare(internals.RESNET32, sizes, settings, method=method, train=train, dataset=datasets[batch])
    return run, task, sizes


def _measure(ctx: Context, run, task, sizes, wrap=None) -> dict[str, Any]:
    """Images/s of (a) bare steps and (b) the step loop, timed in turns; with `wrap` (compile)
    the first call of each is timed apart as the compile time."""
    bare = internals.bare_step_fn(run, sizes, wrap=wrap)
    loop = internals.retain_step_fn(run, task)
    figures: dict[str, Any] = {}
    warmup = ctx.sizes.speed_warmup
    if wrap is not None:
        wrap(run.method.network)
        for name, fn in (("bare", bare), ("retain", loop)):
            started = time.perf_counter()
            fn()
            internals.synchronize(ctx.device)
            figures[f"compile s ({name})"] = time.perf_counter() - started
        warmup = 0
    timings = internals.interleaved({"bare": bare, "retain": loop}, ctx.sizes.speed_repeats, warmup=warmup, sync=ctx.device)
    images = sizes.steps * sizes.batch_size
    figures.update({
        "bare img/s": images / timings["bare"].median,
        "step loop img/s": images / timings["retain"].median,
        "loop / bare": timings["bare"].median / timings["retain"].median,
        "spread (loop)": timings["retain"].spread,
    })
    return figures


def _eager(ctx: Context, check: Check, datasets: dict[int, Any], rows: list[dict[str, Any]]) -> None:
    planned = [(batch, variant) for batch in ctx.sizes.speed_batches for variant in ctx.sizes.speed_variants]
    for batch, variant in planned:
        if ctx.remaining() < 3:
            break
        ctx.log(f"d replay step, batch {batch}, {variant}")
        try:
            run, task, sizes = _prepared(ctx, datasets, batch, train=VARIANTS[variant])
            rows.append({"batch": batch, "variant": variant, "outcome": "ok", **_measure(ctx, run, task, sizes)})
            del run, task
        except Exception as error:  # noqa: BLE001 - one variant failing (bf16 on this GPU?) is reported, the others go on
            rows.append({"batch": batch, "variant": variant, "outcome": f"error: {type(error).__name__}: {_first_line(error)}"})
        _release(ctx)
    check.table = rows
    measured = [r for r in rows if r["outcome"] == "ok"]
    errors = [r for r in rows if r["outcome"] != "ok"]
    if not measured:
        if errors:
            check.set("fail", errors[0]["outcome"], reason="no variant of the step ran")
        else:
            check.set("skipped", reason="skipped: no time left for a measurement")
        return
    first = measured[0]
    best = max(measured, key=lambda r: r["step loop img/s"])
    missing = len(planned) - len(rows)
    notes = []
    if errors:
        notes.append(f"{len(errors)} variant(s) failed (table)")
    if missing:
        notes.append(f"{missing} of {len(planned)} not measured: time budget")
    check.set("fail" if errors else "info",
              f"batch {first['batch']} {first['variant']}: loop {first['step loop img/s']:,.0f} vs bare {first['bare img/s']:,.0f} "
              f"img/s ({first['loop / bare']:.2f}); fastest loop: batch {best['batch']} {best['variant']} "
              f"{best['step loop img/s']:,.0f} img/s ({best['loop / bare']:.2f})", "measured, not judged", "; ".join(notes))
    ctx.shared["replay_rows"] = measured


def _syncs(ctx: Context, check: Check, datasets: dict[int, Any]) -> None:
    batch = ctx.sizes.speed_batches[0]
    found: dict[str, Any] = {}
    for method in ("replay", "icarl"):
        ctx.need(3)
        run, task, _ = _prepared(ctx, datasets, batch, method=method)
        found[method] = _per_step(ctx, run, task)
        del run, task
        _release(ctx)
    check.details.update(found)
    worst = max(f["per step"] for f in found.values())
    figure = ", ".join(f"{m}: {f['per step']:g} per step ({f['full epoch']} in an epoch of {f['steps']} steps)"
                       for m, f in found.items())
    places = sorted({place for f in found.values() for place in f["per-step places"]})
    judged(check, worst == 0, figure, "0 per step", "the step loop waits for the device at " + "; ".join(places[:6]))


def _per_step(ctx: Context, run, task) -> dict[str, Any]:
    internals.retain_step_fn(run, task)()  # warm-up: first-call allocations and caches
    full_stats, full = internals.count_host_syncs(run, internals.retain_step_fn(run, task), ctx.device)
    half_task = internals.with_indices(task, task.train_indices[: len(task.train_indices) // 2])
    half_stats, half = internals.count_host_syncs(run, internals.retain_step_fn(run, half_task), ctx.device)
    steps = full_stats.steps - half_stats.steps
    extra = list(full)
    for place in half:  # the places of the longer epoch beyond the shorter one's
        if place in extra:
            extra.remove(place)
    return {"steps": full_stats.steps, "full epoch": len(full), "half epoch": len(half),
            "per step": (len(full) - len(half)) / steps if steps > 0 else float("nan"),
            "per-step places": sorted(set(extra)), "epoch places": sorted(set(half))}


def _icarl(ctx: Context, check: Check, datasets: dict[int, Any]) -> None:
    batch = ctx.sizes.speed_batches[0]
    rates: dict[str, dict[str, Any]] = {}
    configs = [("device default (fp32)", None)]
    if not ctx.options.quick:  # bf16 is ~10x slower than fp32 on a CPU: the rehearsal keeps to fp32 here
        configs.append(("bf16 + channels_last", VARIANTS["bf16 + channels_last"]))
    for label, train in configs:
        ctx.need(3)
        ctx.log(f"d iCaRL step, batch {batch}, {label}")
        run, task, sizes = _prepared(ctx, datasets, batch, method="icarl", train=train)
        rates[label] = {"batch": batch, "channels_last": run.config.train.channels_last, **_measure(ctx, run, task, sizes)}
        del run, task
        _release(ctx)
    check.table = [{"config": label, **figures} for label, figures in rates.items()]
    ctx.shared["icarl_rates"] = {label: figures["step loop img/s"] for label, figures in rates.items()}
    check.set("info", "; ".join(f"{label}: {f['step loop img/s']:,.0f} img/s (bare {f['bare img/s']:,.0f})"
                                for label, f in rates.items()), "measured, not judged")


def _compiled(ctx: Context, check: Check, datasets: dict[int, Any]) -> None:
    backend = ctx.options.compile_backend
    needs = COMPILE_NEEDS_S if backend == "inductor" else 3.0
    rows: list[dict[str, Any]] = []
    planned = [(batch, variant) for variant in COMPILED_ORDER if variant in ctx.sizes.speed_variants
               for batch in ctx.sizes.speed_batches]
    for batch, variant in planned[: ctx.sizes.compile_variants]:
        if ctx.remaining() < needs:
            rows.append({"batch": batch, "variant": variant, "outcome": "not measured: time budget"})
            continue
        ctx.log(f"d torch.compile ({backend}), batch {batch}, {variant}")
        run, task, sizes = _prepared(ctx, datasets, batch, train=VARIANTS[variant])
        try:
            figures = _measure(ctx, run, task, sizes, wrap=lambda network: internals.compile_backbone(network, backend))
            rows.append({"batch": batch, "variant": variant, "outcome": "ok", **figures})
        except Exception as error:  # noqa: BLE001 - a compile failure is a finding, not a crash
            rows.append({"batch": batch, "variant": variant,
                         "outcome": f"not supported: {type(error).__name__}: {_first_line(error)}"})
            torch._dynamo.reset()
        del run, task
        _release(ctx)
    check.table = rows
    done = [r for r in rows if r["outcome"] == "ok"]
    failed = [r for r in rows if r["outcome"].startswith("not supported")]
    if done:
        best = max(done, key=lambda r: r["step loop img/s"])
        figure = (f"fastest compiled loop: batch {best['batch']} {best['variant']} {best['step loop img/s']:,.0f} img/s "
                  f"(bare {best['bare img/s']:,.0f}, compile {best['compile s (retain)']:.0f} s)")
        ctx.shared["compiled_rows"] = done
    else:
        figure = failed[0]["outcome"] if failed else "nothing measured"
    check.set("info", figure, "measured, not judged", f"{len(failed)} variant(s) not supported" if failed else "")


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [""])[0][:200]


def _release(ctx: Context) -> None:
    if ctx.cuda:
        torch.cuda.empty_cache()
