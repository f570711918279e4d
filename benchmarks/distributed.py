"""One run on 1 vs 2 processes (issue 16): training images/s of rank 0 and the whole run's wall time.

Each workload is the same config on one process with torch's default threads, on one process
with one thread, and on 2 processes (each rank gets cores // 2 threads: one on this machine),
timed in turns. On a CPU shared with other jobs a 2-thread process loses much of its time in
OpenMP synchronisation, so the one-thread single process is the fair baseline for 2 ranks. On a 2-core CPU little speed-up is possible: the figures show what the
per-step all-reduce and the replicated work (augmentation of the whole global batch, memory
update, teacher) cost against the halved forward/backward.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.runner import BenchmarkResult, Settings

FASHION = "/usr/share/datasets/fashion-mnist"


def _workloads(settings: Settings) -> list[tuple[str, list[str]]]:
    common = ["logging.report=false", "logging.tensorboard=false", "method.name=replay", "memory.budget=500 images",
              "scenario.increment=5", f"device={settings.device}", "train.schedule=constant"]
    mlp = ("MLP 784-400-400, Fashion-MNIST 2 tasks, batch 128",
           [*common, "train.epochs=1", "data.name=fashion-mnist", f"data.dir={FASHION}", "data.download=false",
            "model.backbone=mlp", "model.options={hidden: [400, 400]}", "train.batch_size=128"])
    conv = ("ResNet-14, digits 2 tasks, batch 64",
            [*common, "train.epochs=1" if settings.quick else "train.epochs=3", "data.name=digits", "model.backbone=resnet14", "model.options={}",
             "train.batch_size=64"])
    if settings.tiny:
        return [("MLP 128, digits, batch 32 (tiny)", [*common, "train.epochs=1", "data.name=digits", "train.batch_size=32"])]
    return [mlp, conv]


VARIANTS = {"1 process, default threads": (1, None), "1 process, 1 thread": (1, 1), "2 processes": (2, None)}


def _one(overrides: list[str], nproc: int, threads: int | None, out: Path) -> tuple[float, float, float]:
    from retain.runs.config import build_config
    from retain.launch import launch

    extra = [f"distributed.nproc={nproc}"] + ([f"train.threads={threads}"] if threads else [])
    config = build_config(preset="demo", overrides=[*overrides, *extra], seed=0)
    before = torch.get_num_threads()  # a one-process run with train.threads sets this process's threads
    started = time.perf_counter()
    try:
        results = launch(config, out=out)
    finally:
        torch.set_num_threads(before)
    return results["timings"]["train_images_per_second"], time.perf_counter() - started, results["stage_accuracy"][-1]


def run_benchmark(settings: Settings) -> BenchmarkResult:
    repeats = 1 if settings.tiny else min(settings.repeats, 3)
    columns = ["workload", "variant", "train images/s (median)", "run wall s (median)",
               "train vs 1 process, 1 thread", "final accuracy"]
    result = BenchmarkResult("distributed", columns)
    with tempfile.TemporaryDirectory() as tmp:
        for index, (name, overrides) in enumerate(_workloads(settings)):
            figures: dict[str, list[tuple[float, float, float]]] = {v: [] for v in VARIANTS}
            for attempt in range(repeats):
                for variant, (nproc, threads) in VARIANTS.items():
                    out = Path(tmp) / f"{index}-{attempt}-{nproc}-{threads}"
                    figures[variant].append(_one(overrides, nproc, threads, out))
            medians = {v: (statistics.median(f[0] for f in fs), statistics.median(f[1] for f in fs), fs[0][2])
                       for v, fs in figures.items()}
            base = medians["1 process, 1 thread"][0]
            for variant, (rate, wall, accuracy) in medians.items():
                result.rows.append({"workload": name, "variant": variant, "train images/s (median)": rate,
                                    "run wall s (median)": wall, "train vs 1 process, 1 thread": rate / base,
                                    "final accuracy": accuracy})
    result.notes.append(
        f"replay (herding memory of 500 images), median of {repeats} interleaved runs; "
        "train images/s = rank 0's training loop (gather, augmentation, forward/backward on its shard, gradient "
        "all-reduce, step); wall = the whole run (process start, data loading, memory update, evaluation, writes)."
    )
    return result
