"""One run on 1 vs 2 processes (issue 16): training images/s of rank 0 and the whole run's wall time.

Each workload is the same config at distributed.nproc 1 and 2, timed in turns (1, 2, 1, 2, ...).
One process uses torch's default threads; each of N ranks gets cores // N threads, so both sides
use every core. On a 2-core CPU little speed-up is possible: the figures show what the
per-step all-reduce and the replicated work (augmentation of the whole global batch, memory
update, teacher) cost against the halved forward/backward.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.runner import BenchmarkResult, Settings

FASHION = "/usr/share/datasets/fashion-mnist"


def _workloads(settings: Settings) -> list[tuple[str, list[str]]]:
    common = ["logging.report=false", "logging.tensorboard=false", "method.name=replay", "memory.budget=500 images",
              "scenario.increment=5", f"device={settings.device}", "train.schedule=constant"]
    epochs = "train.epochs=1" if settings.tiny or settings.quick else "train.epochs=2"
    mlp = ("MLP 784-400-400, Fashion-MNIST 2 tasks, batch 128",
           [*common, epochs, "data.name=fashion-mnist", f"data.dir={FASHION}", "data.download=false",
            "model.backbone=mlp", "model.options={hidden: [400, 400]}", "train.batch_size=128"])
    conv = ("ResNet-14, digits 2 tasks, batch 64",
            [*common, epochs.replace("2", "3"), "data.name=digits", "model.backbone=resnet14", "model.options={}",
             "train.batch_size=64"])
    if settings.tiny:
        return [("MLP 128, digits, batch 32 (tiny)", [*common, "train.epochs=1", "data.name=digits", "train.batch_size=32"])]
    return [mlp, conv]


def _one(overrides: list[str], nproc: int, out: Path) -> tuple[float, float]:
    from retain.experiment.config import build_config
    from retain.experiment.launch import launch

    config = build_config(preset="demo", overrides=[*overrides, f"distributed.nproc={nproc}"], seed=0)
    started = time.perf_counter()
    results = launch(config, out=out)
    return results["timings"]["train_images_per_second"], time.perf_counter() - started


def run_benchmark(settings: Settings) -> BenchmarkResult:
    repeats = 1 if settings.tiny else min(settings.repeats, 3)
    result = BenchmarkResult("distributed", ["workload", "processes", "train images/s (median)", "run wall s (median)",
                                             "speed-up (train)", "speed-up (wall)"])
    with tempfile.TemporaryDirectory() as tmp:
        for name, overrides in _workloads(settings):
            figures: dict[int, list[tuple[float, float]]] = {1: [], 2: []}
            for attempt in range(repeats):
                for nproc in (1, 2):
                    figures[nproc].append(_one(overrides, nproc, Path(tmp) / f"{len(result.rows)}-{attempt}-{nproc}"))
            medians = {n: (statistics.median(r for r, _ in v), statistics.median(w for _, w in v)) for n, v in figures.items()}
            for nproc in (1, 2):
                rate, wall = medians[nproc]
                result.rows.append({"workload": name, "processes": nproc, "train images/s (median)": rate,
                                    "run wall s (median)": wall, "speed-up (train)": rate / medians[1][0],
                                    "speed-up (wall)": medians[1][1] / wall})
    result.notes.append(
        f"replay (herding memory of 500 images), median of {repeats} interleaved runs; "
        "train images/s = rank 0's training loop (gather, augmentation, forward/backward on its shard, gradient "
        "all-reduce, step); wall = the whole run (process start, data loading, memory update, evaluation, writes)."
    )
    return result
