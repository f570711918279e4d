"""`python -m benchmarks throughput|step|task|memory|rainbow|peer|distributed|startup|encoded_data|all [--repeats N] [--quick] [--device cpu|cuda]`.

`encoded_data` also takes `--images N` (the generated JPEG folder's size, default 2,000).

`python -m benchmarks gpu [--device cuda|cpu] [--quick] [--out DIR]` is the GPU readiness check
(benchmarks/gpu/, docs/gpu.md): checks with pass/fail, not a table of timings, so it has its own options.

`python -m benchmarks fingerprint [--out FILE] [--compare FILE] [--only NAME ...]` hashes what every
shipped preset and built-in method learns in a shrunk run (benchmarks/fingerprint.py): run before and
after a refactoring, equal files show behaviour unchanged.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time

from benchmarks.runner import RESULTS_DIR, Settings, write

BENCHMARKS = {
    "throughput": "benchmarks.throughput",
    "step": "benchmarks.step",
    "task": "benchmarks.task",
    "memory": "benchmarks.memory",
    "rainbow": "benchmarks.rainbow",
    "peer": "benchmarks.peer",
    "distributed": "benchmarks.distributed",
    "startup": "benchmarks.startup",
    "encoded_data": "benchmarks.encoded_data",
}


def run_named(name: str, settings: Settings, out_dir=RESULTS_DIR) -> str:
    """Run one benchmark, write its JSON and Markdown, return the Markdown."""
    module = importlib.import_module(BENCHMARKS[name])
    return write(module.run_benchmark(settings), settings, out_dir)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["gpu"]:
        from benchmarks.gpu.main import main as gpu_check

        return gpu_check(argv[1:])
    if argv[:1] == ["fingerprint"]:
        from benchmarks.fingerprint import main as fingerprint

        return fingerprint(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("name", choices=[*BENCHMARKS, "all", "gpu", "fingerprint"])
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats per figure (median reported); default 5, 3 with --quick")
    parser.add_argument("--quick", action="store_true", help="small sizes for a fast, rough look")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (both sides of every comparison); default: torch's")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="what the in-process comparisons (step, peer, memory) time: wall seconds or process CPU seconds")
    parser.add_argument("--images", type=int, default=None, help="encoded_data: generated training JPEGs (default 2,000)")
    args = parser.parse_args(argv)
    if args.name == "gpu":
        parser.error("the GPU check has options of its own: put `gpu` first, e.g. python -m benchmarks gpu --quick")
    repeats = args.repeats or (3 if args.quick else 5)
    if repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.threads is not None:
        if args.threads < 1:
            parser.error("--threads must be at least 1")
        import torch

        torch.set_num_threads(args.threads)
    settings = Settings(repeats=repeats, quick=args.quick, device=args.device, threads=args.threads, clock=args.clock,
                        images=args.images)
    names = list(BENCHMARKS) if args.name == "all" else [args.name]
    for name in names:
        started = time.perf_counter()
        print(run_named(name, settings))
        print(f"({name}: {time.perf_counter() - started:.0f} s; written to {RESULTS_DIR / name}.json and .md)\n", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
