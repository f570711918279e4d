"""Step overhead of small networks: retain's training step against bare compute, by batch size.

The MLP as the Fashion-MNIST presets train it (normalisation only, no augmentation), (a) bare
compute against (b) `train_task` at batch 10, 16, 32 and 128, for fine-tuning, replay from a
pool (task rows and memory rows shuffled together) and experience replay (a reservoir memory
minibatch per step and insertion after it). Every (a)/(b) pair is timed in turns in one
process (benchmarks.runner.interleaved), so load on a shared machine falls on both alike.
"""

from __future__ import annotations

import torch

from benchmarks.runner import BenchmarkResult, Settings, interleaved
from benchmarks.synthetic import WORKLOADS, SyntheticRun, build_run, fill_memory, synthetic_dataset, with_indices
from benchmarks.throughput import Sizes, bare_step_fn, retain_step_fn

STEP_BATCHES = (10, 16, 32, 128)
STEP_KINDS = {
    "finetune": {"method": "finetune"},
    "replay, pool": {"method": "replay"},  # herding memory rows shuffled into the task's pool (5:2)
    "ER, reservoir": {"method": "replay", "memory": {"policy": "reservoir"}},  # + memory minibatch, insertion
}
PRESET_MLP = WORKLOADS["mlp-fmnist"]


def step_sizes(batch_size: int, settings: Settings) -> Sizes:
    """About 0.1–0.3 s of steps per timed repeat on a 2-core CPU (a few steps when tiny): short
    repeats alternate often, so many of them give a steady median on a loaded machine."""
    if settings.tiny:
        return Sizes(batch_size=batch_size, steps=2, workers=0)
    steps = max(20, 2400 // batch_size)
    return Sizes(batch_size=batch_size, steps=steps // 3 if settings.quick else steps, workers=0)


def prepare_step_run(kind: str, sizes: Sizes, settings: Settings) -> tuple[SyntheticRun, object, int]:
    """A run on its second task whose epoch is `steps` batches; returns it, the task and the
    rows one step trains on (ER adds a memory minibatch of the batch size)."""
    spec = STEP_KINDS[kind]
    pool = sizes.steps * sizes.batch_size
    streaming = "memory" in spec
    memory_rows = 0 if spec["method"] == "finetune" else (500 if streaming else pool * 2 // 7)
    per_class = max(pool, 5 * memory_rows) // 10 + 1
    dataset = synthetic_dataset(PRESET_MLP.image_shape, num_classes=20, train_per_class=per_class, test_per_class=2)
    run = build_run(
        PRESET_MLP, dataset, method=spec["method"], device=settings.device, batch_size=sizes.batch_size,
        budget=f"{max(memory_rows, 20)} images" if memory_rows else None, memory=spec.get("memory"),
    )
    first, second = run.plan.tasks[0], run.plan.tasks[1]
    run.method.before_task(first)
    if streaming:  # a memory that has seen 10 rows per slot: insertion accepts ~1 in 10
        data = run.ctx.dataset.train
        rows = torch.as_tensor(first.train_indices[: 10 * memory_rows], device=data.images.device)
        for part in rows.split(sizes.batch_size):
            run.method.memory.insert_stream(data.images[part], data.labels[part], task=0)
    elif memory_rows:
        fill_memory(run, first, memory_rows)
    task = with_indices(second, second.train_indices[: pool - (0 if streaming else memory_rows)])
    run.method.before_task(task)
    return run, task, sizes.batch_size * (2 if streaming else 1)


def measure_step(kind: str, batch_size: int, settings: Settings) -> dict:
    """(a) and (b) of one kind of step at one batch size, timed in turns."""
    sizes = step_sizes(batch_size, settings)
    run, task, rows = prepare_step_run(kind, sizes, settings)
    timings = interleaved(
        {"bare": bare_step_fn(run, sizes, rows), "retain": retain_step_fn(run, task)}, settings.repeats,
        sync=settings.device, clock=settings.clock,
    )
    bare, full = timings["bare"], timings["retain"]
    images = sizes.steps * rows
    return {
        "step": kind,
        "batch": batch_size,
        "rows per step": rows,
        "(a) bare img/s": images / bare.median,
        "(b) retain img/s": images / full.median,
        "(b)/(a)": bare.median / full.median,
        "spread (a)": bare.spread,
        "spread (b)": full.spread,
        "_seconds": {"bare": bare.seconds, "retain": full.seconds},
    }


STEP_COLUMNS = ["step", "batch", "rows per step", "(a) bare img/s", "(b) retain img/s", "(b)/(a)", "spread (a)", "spread (b)"]


def run_benchmark(settings: Settings) -> BenchmarkResult:
    result = BenchmarkResult("step", STEP_COLUMNS)
    batches = STEP_BATCHES[1:2] if settings.tiny else STEP_BATCHES
    for kind in STEP_KINDS:
        for batch_size in batches:
            result.rows.append(measure_step(kind, batch_size, settings))
    for batch_size in batches:
        ratios = [row["(b)/(a)"] for row in result.rows if row["batch"] == batch_size]
        result.summary[f"lowest (b)/(a) at batch {batch_size}"] = min(ratios)
    result.notes += [
        "MLP 784-400-400 on 28×28×1 synthetic rows, normalisation only (the fmnist presets' data path), SGD "
        "lr 0.05 momentum 0.9 weight decay 5e-4;",
        "(a) forward+loss+backward+SGD step on one pre-made float batch of `rows per step` images; (b) "
        "retain.engine.trainer.train_task over one epoch of the same number of steps;",
        "replay, pool: 5 task rows : 2 herding-memory rows shuffled together (iCaRL/PyCIL style); ER, reservoir: "
        "each step adds a minibatch of the batch size from a 500-image reservoir memory and inserts the stream rows after it;",
        "(a) and (b) are timed in turns in one process (interleaved repeats), same torch threads.",
    ]
    return result
