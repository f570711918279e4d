"""Wall time of one full CIL task of `cifar100-b0-inc10` shape, split by stage.

Synthetic CIFAR-sized data; iCaRL (CE + KD from the previous model, herding, NME) on its
second task: 5,000 new images + a 2,000-image raw memory, ResNet-32, batch 128, crop + flip.
Stages: training (student forward/backward/step and the data path), teacher forward (inside
the training loop, timed by wrapping the teacher), memory update (after_task: herding on the
new classes' features, shrinking old classes, class means) and evaluation (CNN and NME from
one forward over the seen classes' test images).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch import nn

from benchmarks.runner import BenchmarkResult, Settings, synchronize
from benchmarks.synthetic import WORKLOADS, build_run, synthetic_dataset
from retain.engine.evaluator import evaluate
from retain.engine.trainer import train_task


class TimedModule(nn.Module):
    """Wraps a module and adds up the wall time of its forward calls."""

    def __init__(self, module: nn.Module, device: str) -> None:
        super().__init__()
        self.module = module
        self.device = device
        self.seconds = 0.0

    def forward(self, *args, **kwargs):
        synchronize(self.device)
        started = time.perf_counter()
        out = self.module(*args, **kwargs)
        synchronize(self.device)
        self.seconds += time.perf_counter() - started
        return out


@dataclass(frozen=True)
class TaskSizes:
    train_per_class: int   # new images per class (10 classes)
    memory: int            # memory rows of the previous task
    test_per_class: int
    epochs: int
    batch_size: int = 128


def sizes_for(settings: Settings) -> TaskSizes:
    if settings.tiny:
        return TaskSizes(train_per_class=6, memory=20, test_per_class=2, epochs=1, batch_size=16)
    if settings.quick:
        return TaskSizes(train_per_class=100, memory=400, test_per_class=20, epochs=1)
    return TaskSizes(train_per_class=500, memory=2000, test_per_class=100, epochs=2)


def one_task(settings: Settings, sizes: TaskSizes) -> dict[str, float]:
    """Seconds of each stage of iCaRL's second task (a fresh run each call)."""
    dataset = synthetic_dataset(WORKLOADS["resnet32"].image_shape, num_classes=20,
                                train_per_class=sizes.train_per_class, test_per_class=sizes.test_per_class)
    run = build_run(
        WORKLOADS["resnet32"], dataset, method="icarl", device=settings.device, batch_size=sizes.batch_size,
        epochs=sizes.epochs, budget=f"{sizes.memory} images",
    )
    method, ctx = run.method, run.ctx
    first, second = run.plan.tasks
    method.before_task(first)
    # The previous task's memory, class-balanced, without spending time training task 1.
    labels = ctx.dataset.train.labels[torch.as_tensor(first.train_indices)]
    per_class = sizes.memory // len(first.new_classes)
    rows = torch.cat([torch.as_tensor(first.train_indices)[labels == c][:per_class] for c in first.new_classes])
    method.memory.store.add(ctx.dataset.train.images[rows], ctx.dataset.train.labels[rows], task=0)

    synchronize(settings.device)
    t0 = time.perf_counter()
    method.before_task(second)
    method.teacher = TimedModule(method.teacher, settings.device)
    stats = train_task(method, second, ctx)
    synchronize(settings.device)
    t1 = time.perf_counter()
    method.after_task(second)
    synchronize(settings.device)
    t2 = time.perf_counter()
    result = evaluate(method, second, ctx)
    synchronize(settings.device)
    t3 = time.perf_counter()
    teacher = method.teacher.seconds
    return {
        "training (student + data)": (t1 - t0) - teacher,
        "teacher forward": teacher,
        "memory update": t2 - t1,
        "evaluation (CNN + NME)": t3 - t2,
        "total": t3 - t0,
        "_train_images": stats.images,
        "_nme_scored": float("nme" in result.scores),
    }


def run_benchmark(settings: Settings) -> BenchmarkResult:
    sizes = sizes_for(settings)
    repeats = min(settings.repeats, 3)
    runs = [one_task(settings, sizes) for _ in range(repeats)]
    stages = [k for k in runs[0] if not k.startswith("_")]
    total = sorted(r["total"] for r in runs)[len(runs) // 2]
    result = BenchmarkResult("task", ["stage", "seconds (median)", "share of total", "min", "max"])
    for stage in stages:
        values = sorted(r[stage] for r in runs)
        median = values[len(values) // 2]
        result.rows.append({"stage": stage, "seconds (median)": median, "share of total": median / total if total else 0.0,
                            "min": values[0], "max": values[-1]})
    train_seconds = sorted(r["training (student + data)"] + r["teacher forward"] for r in runs)[len(runs) // 2]
    result.summary["training images/s (incl. teacher)"] = runs[0]["_train_images"] / train_seconds
    result.notes.append(
        f"iCaRL task 2 of a 10-class-per-task plan: {10 * sizes.train_per_class} new + {sizes.memory} memory images, "
        f"{sizes.epochs} epoch(s), batch {sizes.batch_size}, ResNet-32, crop(pad 4) + flip; "
        f"{20 * sizes.test_per_class} test images; median of {repeats} fresh runs (at most 3)."
    )
    return result
