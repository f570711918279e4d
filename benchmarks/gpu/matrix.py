"""(a) A CIFAR-shaped run on the device gives the CPU's accuracy matrix, repeats itself, and resumes bit-exactly.

For iCaRL and MRDC (JPEG memory) on the synthetic CIFAR-100-sized data, ResNet-32, `sizes.tasks`
tasks of `sizes.epochs` epochs with an epoch checkpoint after every epoch:

* the CPU reference runs as a background `retain run` while the device runs here;
* matrix: the device's accuracy matrix (primary score) against the CPU's, max |Δ| over its
  entries within `--matrix-tolerance` points (float summation differs between devices, so the
  trajectories differ a little; the same computation on the same device is compared bit-exactly);
* repeatable: a second uninterrupted device run is bit-identical (on the CPU the reference is
  that second run). When it is not (non-deterministic GPU kernels), the resume runs below ask
  for deterministic kernels (benchmarks/gpu/deterministic.py) against a reference run made so;
* resume: `retain run` killed (SIGKILL) once its task-1 checkpoint exists, resumed with
  `retain run --resume`, killed again once an epoch checkpoint of the last task exists (mid-task),
  resumed to the end. Rows 1..T-1 after the first resume and the whole result after the second
  must equal the uninterrupted run's, bit for bit (every score set's matrix, stage accuracies,
  the ledger).
"""

from __future__ import annotations

from typing import Any

from benchmarks.gpu import runs
from benchmarks.gpu.context import Context, OutOfTime, Skip
from benchmarks.gpu.report import Check, judged
from benchmarks.gpu.runs import METHODS, Attempt, Background, retain_command, run_tree


def run(ctx: Context) -> None:
    references = {method: _start_cpu_reference(ctx, method) for method in METHODS}
    device_runs: dict[str, dict[str, Any] | None] = {}
    unjudged = list(METHODS)

    def judge_matrices(wait: bool = False) -> None:
        """Compare with the CPU as soon as a reference has ended, so a budget spent later keeps these."""
        for method in list(unjudged):
            if wait or references[method].done():
                unjudged.remove(method)
                _matrix(ctx, method, references[method], device_runs[method])

    try:
        for method in METHODS:
            device_runs[method] = _device_run(ctx, method)
        for method in ctx.sizes.resume_methods:
            judge_matrices()
            _repeat_and_resume(ctx, method, device_runs[method], references[method])
        judge_matrices(wait=True)
    finally:
        for reference in references.values():
            reference.stop()


def _start_cpu_reference(ctx: Context, method: str) -> Background:
    tree = run_tree(ctx.sizes, "cpu", method, threads=ctx.cpu_threads)
    config = runs.write_config(tree, ctx.work / f"a-{method}-cpu.yaml")
    ctx.log(f"a {method}: CPU reference started in the background ({ctx.cpu_threads or 'default'} threads)")
    return Background(retain_command("run", str(config), "--out", str(ctx.work / f"a-{method}-cpu"), "-q"),
                      ctx.work / f"a-{method}-cpu.log")


def _device_run(ctx: Context, method: str) -> dict[str, Any] | None:
    """The uninterrupted run on the device, in this process (None when it failed: recorded as a check)."""

    def body(check: Check) -> dict[str, Any]:
        ctx.need(5)
        ctx.log(f"a {method}: uninterrupted run on {ctx.device}")
        results = runs.run_here(run_tree(ctx.sizes, ctx.device, method, threads=ctx.threads), ctx.work / f"a-{method}-device")
        seconds = results["timings"]["total_seconds"]
        check.details["results"] = runs.compared_keys(results)
        check.details["timings"] = results["timings"]
        check.set("pass" if results.get("complete") else "fail", f"{len(results['stage_accuracy'])} tasks in {seconds:.1f} s, "
                  f"last accuracy {results['metrics']['last_accuracy']:.2f}", "completes",
                  "" if results.get("complete") else "the run did not complete")
        return results

    results = ctx.guarded(Check("a", f"{method}: run on {ctx.device}"), body)
    if results is not None:
        ctx.shared[f"{method}-device"] = results
    return results


def _matrix(ctx: Context, method: str, reference: Background, device: dict[str, Any] | None) -> None:
    tolerance = ctx.options.matrix_tolerance

    def body(check: Check) -> None:
        if device is None:
            raise Skip(f"skipped: the {ctx.device} run of {method} failed")
        cpu = _reference_results(ctx, method, reference)
        matrix = [list(row) for row in device["accuracy_matrix"]]
        shift = ctx.perturbation.get(method, 0.0)
        if shift:  # test-only: proves that a wrong matrix is reported as a failure
            matrix[-1][0] += shift
            check.details["perturbed_by"] = shift
        worst = runs.max_abs_difference(matrix, cpu["accuracy_matrix"])
        check.details.update(device_matrix=matrix, cpu_matrix=cpu["accuracy_matrix"], cpu_timings=cpu["timings"])
        judged(check, worst <= tolerance, f"max |Δ| = {worst:.2f} points (last accuracy {device['metrics']['last_accuracy']:.2f} "
               f"vs {cpu['metrics']['last_accuracy']:.2f})", f"≤ {tolerance:g} points",
               f"the {ctx.device} matrix differs from the CPU's by more than the tolerance")

    ctx.guarded(Check("a", f"{method}: {ctx.device} matrix = CPU matrix"), body)


def _reference_results(ctx: Context, method: str, reference: Background) -> dict[str, Any]:
    """The CPU reference's results, once its process has ended (a RuntimeError if it failed). One
    that has ended is read whatever time is left: a finished comparison is never skipped."""
    outcome = reference.wait(0.01 if reference.done() else ctx.need(1))
    if outcome.timed_out:
        raise OutOfTime(f"skipped: the CPU reference run of {method} did not end within the time budget")
    if outcome.returncode != 0:
        raise RuntimeError(f"the CPU reference run {'timed out' if outcome.timed_out else 'failed'} "
                           f"(exit {outcome.returncode}): {outcome.log_tail[-600:]}")
    return runs.load(ctx.work / f"a-{method}-cpu")


def _repeat_and_resume(ctx: Context, method: str, device: dict[str, Any] | None, reference: Background) -> None:
    repeat = Check("a", f"{method}: repeatable on {ctx.device}")
    outcome = ctx.guarded(repeat, lambda check: _repeatable(ctx, method, device, reference, check))
    if outcome is None:  # failed or skipped: the resume has no reference to compare with
        for title in ("resume at a task boundary", "resume mid-epoch"):
            ctx.skipped(Check("a", f"{method}: {title}"), "skipped: needs the repeatability check's reference run")
        return
    baseline, kernels = outcome
    _kill_and_resume(ctx, method, baseline, kernels == "deterministic")


def _repeatable(ctx: Context, method: str, device: dict[str, Any] | None, reference: Background,
                check: Check) -> tuple[dict[str, Any], str]:
    """Compare two uninterrupted runs; returns the reference the resume is compared with and
    which kernels it used ("default" or "deterministic")."""
    if device is None:
        raise Skip(f"skipped: the {ctx.device} run of {method} failed")
    ctx.need(5)
    if not ctx.cuda:  # the CPU reference is the same computation in another process
        ctx.log(f"a {method}: waiting for the CPU reference, the second run on this device")
        again = _reference_results(ctx, method, reference)
    else:
        ctx.log(f"a {method}: second uninterrupted run on {ctx.device}")
        again = runs.run_here(run_tree(ctx.sizes, ctx.device, method, threads=ctx.threads), ctx.work / f"a-{method}-device-2")
    diffs = runs.differences(device, again)
    check.details["differences"] = diffs
    if not diffs or not ctx.cuda:
        judged(check, not diffs, "bit-identical" if not diffs else f"differ in {', '.join(diffs)}", "bit-identical",
               "two runs of the same config on this device differ")
        return device, "default"
    # Not repeatable with the default kernels: say so, and give the resume a deterministic reference.
    judged(check, False, f"differ in {', '.join(diffs)}", "bit-identical",
           "non-deterministic kernels: the resume below asks for deterministic ones (torch.use_deterministic_algorithms)")
    ctx.log(f"a {method}: reference run with deterministic kernels (subprocess)")
    tree = run_tree(ctx.sizes, ctx.device, method, threads=ctx.threads, deterministic=True)
    run_dir = ctx.work / f"a-{method}-deterministic"
    config = runs.write_config(tree, ctx.work / f"a-{method}-deterministic.yaml")
    outcome = runs.attempt(retain_command("run", str(config), "--out", str(run_dir), "-q"), run_dir,
                           ctx.work / f"a-{method}-deterministic.log", ctx.need(5))
    if not outcome.finished:
        raise RuntimeError(f"the deterministic reference run did not finish (exit {outcome.returncode}): {outcome.log_tail[-600:]}")
    return runs.load(run_dir), "deterministic"


def _kill_and_resume(ctx: Context, method: str, reference: dict[str, Any], deterministic: bool) -> None:
    tasks = ctx.sizes.tasks
    run_dir = ctx.work / f"a-{method}-resume"
    log = ctx.work / f"a-{method}-resume.log"
    tree = run_tree(ctx.sizes, ctx.device, method, threads=ctx.threads, deterministic=deterministic)
    config = runs.write_config(tree, ctx.work / f"a-{method}-resume.yaml")
    kernels = " (deterministic kernels)" if deterministic else ""
    attempts: dict[str, Attempt] = {}

    def boundary(check: Check) -> None:
        ctx.log(f"a {method}: run to be killed after task 1's checkpoint{kernels}")
        first = runs.attempt(retain_command("run", str(config), "--out", str(run_dir), "-q"), run_dir, log, ctx.need(5),
                             kill_when=lambda seen: seen.get("completed_tasks", 0) >= 1)
        attempts["first"] = first
        _expect_killed(first, "the first run")
        ctx.log(f"a {method}: killed at {first.killed_at}; resuming, to be killed mid-task {tasks}")
        second = runs.attempt(retain_command("run", "--resume", str(run_dir), "-q"), run_dir, log, ctx.need(5),
                              kill_when=lambda seen: seen.get("kind") == "epoch" and seen.get("completed_tasks", 0) >= tasks - 1)
        attempts["second"] = second
        _expect_killed(second, "the resumed run")
        diffs = runs.differences(reference, runs.load(run_dir), tasks - 1)
        check.details.update(killed_at=first.killed_at, differences=diffs, seconds=[first.seconds, second.seconds])
        judged(check, not diffs, f"tasks 1-{tasks - 1} bit-identical" if not diffs else f"differ in {', '.join(diffs)}",
               "bit-identical" + kernels, "the run resumed from a task checkpoint differs from the uninterrupted run")

    def mid_epoch(check: Check) -> None:
        if "second" not in attempts or attempts["second"].killed_at is None:
            raise Skip("skipped: the task-boundary resume did not reach the mid-task kill")
        ctx.log(f"a {method}: killed at {attempts['second'].killed_at}; resuming to the end")
        third = runs.attempt(retain_command("run", "--resume", str(run_dir), "-q"), run_dir, log, ctx.need(5))
        if not third.finished:
            raise RuntimeError(f"the last resume did not finish (exit {third.returncode}): {third.log_tail[-600:]}")
        final = runs.load(run_dir)
        diffs = runs.differences(reference, final)
        check.details.update(killed_at=attempts["second"].killed_at, differences=diffs, resumes=final.get("resumes"),
                             seconds=third.seconds)
        if deterministic:  # operations torch could not make deterministic (warn_only): where a difference may come from
            check.details["nondeterministic_ops"] = _nondeterministic_warnings(log)
        judged(check, not diffs, "all tasks bit-identical" if not diffs else f"differ in {', '.join(diffs)}",
               "bit-identical" + kernels, "the run resumed from an epoch checkpoint differs from the uninterrupted run")

    ctx.guarded(Check("a", f"{method}: resume at a task boundary"), boundary)
    ctx.guarded(Check("a", f"{method}: resume mid-epoch"), mid_epoch)


def _nondeterministic_warnings(log) -> list[str]:
    lines = log.read_text(errors="replace").splitlines()
    return sorted({line.strip()[:200] for line in lines if "does not have a deterministic implementation" in line})


def _expect_killed(outcome: Attempt, what: str) -> None:
    if outcome.killed_at is not None:
        return
    if outcome.timed_out:
        raise OutOfTime(f"skipped: {what} ran out of time before its kill point")
    raise RuntimeError(f"{what} ended (exit {outcome.returncode}) before its kill point: {outcome.log_tail[-600:]}")
