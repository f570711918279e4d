"""`python -m benchmarks gpu [--device cuda|cpu] [--quick] [--out DIR] [--deadline-s S]`: the checks in order.

Each check (a)-(f) has a time budget; none starts after the global deadline, and whatever is
left then is reported as skipped. A watchdog thread ends the process (report written, exit 3)
if a check hangs `GRACE_S` past the deadline — a GPU call that never returns cannot be
interrupted from Python, and a one-shot GPU loan must still leave its report behind.
"""

from __future__ import annotations

import argparse
import faulthandler
import importlib
import os
import shutil
import sys
import threading
import time
from pathlib import Path

import torch

from benchmarks.gpu.context import Context
from benchmarks.gpu.report import Check, Report
from benchmarks.gpu.runs import FULL, QUICK, stop_all

RESULTS = Path(__file__).resolve().parents[1] / "results"
GRACE_S = 90.0
DEADLINE_S = 450.0        # a full run: under 8 minutes on one H100, start-up included
QUICK_DEADLINE_S = 1200.0

# key, what it checks, the module whose run(ctx) does it, and its time budget as a share of
# --deadline-s (full sizes: of 450 s, 190 / 30 / 60 / 130 / 15 / 20 s on one H100; quick: the CPU
# rehearsal's shares). Modules are imported when their check starts: one that no longer imports
# (retain's internals moved under (d)) fails its own check, not the whole run.
CHECKS: list[tuple[str, str, str, float, float]] = [
    ("a", "device vs CPU accuracy matrix, repeatability, kill-and-resume (iCaRL, MRDC)", "matrix", 0.42, 0.45),
    ("b", "bf16 autocast + channels_last vs fp32", "precision", 0.07, 0.12),
    ("c", "--nproc 1 / 2, one memory digest on every rank", "nproc", 0.13, 0.13),
    ("d", "step loop vs bare forward/backward, host syncs per step", "speed", 0.29, 0.22),
    ("e", "projected wall time of cifar100-b0-inc10 (iCaRL)", "projection", 0.035, 0.04),
    ("f", "encoded (ImageNet) data path: decode rate", "decode", 0.045, 0.04),
]


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks gpu", description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="cuda, cuda:N or cpu (default: cuda when available, else cpu)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: the CPU rehearsal (about a minute), figures meaningless")
    parser.add_argument("--out", type=Path, default=None, help="report folder (default benchmarks/results/gpu-<date>)")
    parser.add_argument("--deadline-s", type=float, default=None,
                        help="no check starts after this many seconds (default 450; with --quick 1200: the rehearsal is "
                             "there to run every path, on a CPU that may be shared)")
    parser.add_argument("--only", default="", help="comma-separated check keys to run, e.g. a,d (default: all)")
    parser.add_argument("--matrix-tolerance", type=float, default=5.0,
                        help="(a) max |Δ| in points between the device's and the CPU's accuracy matrix (default 5)")
    parser.add_argument("--precision-tolerance", type=float, default=3.0,
                        help="(b) |Δ| in points of average incremental accuracy, bf16+channels_last vs fp32; "
                             "twice this for the last accuracy (default 3)")
    parser.add_argument("--compile-backend", default=None, help="(d) torch.compile backend (default inductor; --quick: eager)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads of every run (default: torch's; --quick: 1)")
    parser.add_argument("--perturb-matrix", action="append", default=[], metavar="METHOD=POINTS",
                        help="test-only: add POINTS to one entry of METHOD's device matrix before (a) compares it, "
                             "to prove that a wrong matrix is reported as a failure")
    args = parser.parse_args(argv)
    keys = {key for key, *_ in CHECKS}
    args.only = [k.strip() for k in args.only.split(",") if k.strip()] or sorted(keys)
    if set(args.only) - keys:
        parser.error(f"--only takes check keys among {', '.join(sorted(keys))}, got {args.only}")
    try:
        args.perturbation = {m: float(v) for m, v in (item.split("=", 1) for item in args.perturb_matrix)}
    except ValueError:
        parser.error("--perturb-matrix takes METHOD=POINTS, e.g. icarl=10")
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.deadline_s is None:
        args.deadline_s = QUICK_DEADLINE_S if args.quick else DEADLINE_S
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    sizes = QUICK if args.quick else FULL
    threads = args.threads or (1 if args.quick else None)
    args.compile_backend = args.compile_backend or sizes.compile_backend
    out = args.out or RESULTS / f"gpu-{time.strftime('%Y-%m-%d')}"
    settings = {"device": args.device, "quick": args.quick, "deadline_s": args.deadline_s, "only": args.only,
                "matrix_tolerance": args.matrix_tolerance, "precision_tolerance": args.precision_tolerance,
                "compile_backend": args.compile_backend, "threads": threads, "sizes": sizes.__dict__,
                "perturbation": args.perturbation,
                "command": " ".join(["python -m benchmarks gpu", *(argv if argv is not None else sys.argv[2:])])}
    report = Report(out, settings, args.device)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        return _no_cuda(report, args.device)
    work = out / "work"  # run directories and logs: kept when a check failed, for the post-mortem
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    ctx = Context(device=args.device, sizes=sizes, threads=threads, work=work, report=report,
                  deadline=report.started + args.deadline_s, options=args, cpu_threads=_cpu_threads(args.device, threads),
                  perturbation=args.perturbation)
    ctx.log(f"device {args.device} ({', '.join(report.environment['gpus']) or 'no GPU'}), torch {torch.__version__}, "
            f"{'quick' if args.quick else 'full'} sizes, deadline {args.deadline_s:.0f} s, report in {out}")
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    watchdog = _watchdog(ctx, args.deadline_s + GRACE_S)
    try:
        _run_checks(ctx, args)
    finally:
        watchdog.cancel()
        stop_all()
        torch.set_num_threads(before)
    if not report.failed:
        shutil.rmtree(work, ignore_errors=True)
    report.finished = True
    report.write()
    ctx.log(f"done in {report.wall_seconds:.0f} s: {len(report.failed)} failed of {len(report.checks)}; "
            f"{report.markdown_path} and {report.json_path.name}")
    print(report.markdown(), flush=True)
    return 1 if report.failed else 0


def _no_cuda(report: Report, device: str) -> int:
    """A GPU loan whose torch sees no GPU still leaves a report that says so, and why it may be."""
    env = report.environment
    report.add(Check("!", f"CUDA device for --device {device}").set(
        "fail", reason=f"torch {env['torch']} (CUDA build {env['cuda_build']}) sees no CUDA device: a CPU-only torch "
        "(install the CUDA build first, docs/gpu.md), a driver older than the build, or CUDA_VISIBLE_DEVICES hiding it "
        f"(driver: {env['driver']})"))
    report.finished = True
    report.write()
    print(report.markdown(), flush=True)
    return 2


def _cpu_threads(device: str, threads: int | None) -> int | None:
    """Threads of each of (a)'s two background CPU reference runs: half the cores each beside a
    GPU run; on the CPU the device runs' own count, so that the same computation repeats bit for bit."""
    if not device.startswith("cuda"):
        return threads
    return threads or max(1, ((os.cpu_count() or 2) - 2) // 2)


def _run_checks(ctx: Context, args: argparse.Namespace) -> None:
    for key, title, module, share_full, share_quick in CHECKS:
        if key not in args.only:
            continue
        now = time.perf_counter()
        if now >= ctx.deadline:
            ctx.skipped(Check(key, title), f"skipped: the global deadline ({args.deadline_s:.0f} s) was reached")
            continue
        ctx.group_end = now + (share_quick if args.quick else share_full) * args.deadline_s
        ctx.log(f"{key}: {title} (budget {ctx.group_end - now:.0f} s)")
        try:
            importlib.import_module(f"benchmarks.gpu.{module}").run(ctx)
        except Exception as error:  # noqa: BLE001 - a check's own bug must not stop the others
            ctx.failed(Check(key, title), error, now)


def _watchdog(ctx: Context, after_s: float) -> threading.Timer:
    """Write the report and end the process if the checks are still running `after_s` after the start."""

    def fire() -> None:
        ctx.report.add(Check("!", "watchdog").set("fail", reason=f"still running {after_s:.0f} s after the start "
                                                  "(deadline + grace): a check hung; the stacks are on stderr"))
        ctx.report.write()
        faulthandler.dump_traceback(all_threads=True)
        stop_all()
        print(ctx.report.markdown(), flush=True)
        os._exit(3)

    timer = threading.Timer(max(after_s - ctx.report.wall_seconds, 1.0), fire)
    timer.daemon = True
    timer.start()
    return timer
