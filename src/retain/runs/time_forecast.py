"""The dry run's forecast of training time on this device: a few measured steps of the configured
backbone on synthetic input, times the number of steps the plan has.

What it leaves out is said with it: data decoding and augmentation, and the extra passes of a
method (a teacher's forward, MEMO's growing branches, uncertainty or herding feature passes).
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass

import torch
from torch import nn

from retain.engine.device import resolve_device
from retain.engine.optim import EagerSGD
from retain.runs.spec import STAND_IN_ROWS, RunSpec


@dataclass(frozen=True)
class StepProbe:
    """How the dry run measures a training step: `steps` timed steps after one warm-up step
    (0: no time forecast), stopping early after `seconds`; on a CPU the measured batch holds at
    most `cpu_batch` rows and the time per row is scaled to the configured batch."""

    steps: int = 3
    cpu_batch: int = 8
    seconds: float = 5.0


@dataclass(frozen=True)
class StepTiming:
    """Measured seconds per image of a training step and of an evaluation forward pass."""

    device: str
    batch: int
    steps: int
    train_seconds_per_image: float
    eval_seconds_per_image: float


def measure_step(spec: RunSpec, probe: StepProbe, device: torch.device) -> StepTiming:
    """Time SGD steps (forward, cross-entropy, backward, update) and forward passes of the
    configured backbone with a linear head over every class, on random input of the dataset's shape."""
    from retain.models import IncrementalNet, build_backbone

    config = spec.config
    channels, height, width = spec.image_shape
    network = IncrementalNet(build_backbone(config.model.backbone, in_channels=channels, image_size=height,
                                            **config.model.options))
    network.grow(spec.num_classes)
    network.to(device)
    batch = config.train.batch_size if device.type != "cpu" else min(config.train.batch_size, probe.cpu_batch)
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(batch, channels, height, width, generator=generator).to(device)
    labels = torch.randint(spec.num_classes, (batch,), generator=generator).to(device)
    if config.train.channels_last and channels > 1:  # the memory layout and precision the run trains with
        network.to(memory_format=torch.channels_last)
        images = images.contiguous(memory_format=torch.channels_last)
    autocast = (torch.autocast(device_type=device.type, dtype=torch.bfloat16) if config.train.bf16
                else contextlib.nullcontext())
    optimizer = EagerSGD(network.parameters(), lr=1e-3, momentum=0.9)

    def train_step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with autocast:
            loss = nn.functional.cross_entropy(network(images)["logits"], labels)
        loss.backward()
        optimizer.step()

    def eval_step() -> None:
        with torch.no_grad(), autocast:
            network(images)

    network.train()
    train_s, steps = _timed(train_step, probe, device)
    network.eval()
    eval_s, _ = _timed(eval_step, probe, device)
    return StepTiming(str(device), batch, steps, train_s / batch, eval_s / batch)


def _timed(step, probe: StepProbe, device: torch.device) -> tuple[float, int]:
    """Seconds per call of `step` after one warm-up call (cuDNN autotuning, allocations)."""
    step()
    _sync(device)
    start, done = time.perf_counter(), 0
    while done < probe.steps and (done == 0 or time.perf_counter() - start < probe.seconds):
        step()
        done += 1
    _sync(device)
    return (time.perf_counter() - start) / done, done


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass(frozen=True)
class WorkCount:
    """Images a run pushes through training steps and evaluation passes, over all tasks."""

    train_steps: int
    train_images: int
    eval_images: int


def count_work(spec: RunSpec, rows_scale: float = 1.0, test_scale: float = 1.0,
               memory_rows: list[int] | None = None, memory_batch: int = 0) -> WorkCount:
    """Training steps and images of the plan: per task, epochs × ⌈(task rows + memory rows) / batch⌉
    (an online stream: one pass over the task, then the epochs over the memory); a memory
    minibatch per step (`memory_batch`, replay=batch) adds its rows to every step. `rows_scale`
    and `test_scale` turn the plan's rows into images (a stand-in plan has a few rows per class)."""
    config = spec.config
    batch, online = config.train.batch_size, config.scenario.stream == "online"
    steps = images = evaluated = 0
    for t, task in enumerate(spec.plan.tasks):
        epochs = config.train.first_epochs if t == 0 and config.train.first_epochs is not None else config.train.epochs
        rows = round(len(task.train_indices) * rows_scale)
        memory = (memory_rows or [0] * len(spec.plan.tasks))[t]
        if online:
            task_steps = math.ceil(rows / batch) + epochs * math.ceil(memory / batch)
            task_images = rows + epochs * memory
        elif memory_batch:
            task_steps = epochs * math.ceil(rows / batch)
            task_images = task_steps * (batch + memory_batch)
        else:
            task_steps = epochs * math.ceil((rows + memory) / batch)
            task_images = epochs * (rows + memory)
        steps += task_steps
        images += task_images
        evaluated += round(len(task.test_indices) * test_scale)
    return WorkCount(steps, images, evaluated)


def forecast_time_text(spec: RunSpec, probe: StepProbe, stand_in: bool, per_class: tuple[float, float] | None,
                       memory_rows: list[int] | None, memory_batch: int) -> str:
    """The dry run's time forecast: what was measured, the plan's work and the total it implies.
    On a `stand_in` plan (no files read), `per_class` is the (train, test) images per class assumed."""
    if probe.steps <= 0:
        return "time forecast: skipped (--forecast-steps 0)"
    if stand_in and per_class is None:
        return "time forecast: not possible (the dataset was not read and its registration declares no split sizes)"
    per_class = per_class if stand_in else None
    rows_scale, test_scale = (per_class[0] / STAND_IN_ROWS, per_class[1] / STAND_IN_ROWS) if per_class else (1.0, 1.0)
    device = resolve_device(spec.config.device)
    timing = measure_step(spec, probe, device)
    work = count_work(spec, rows_scale, test_scale, memory_rows, memory_batch)
    train_s = work.train_images * timing.train_seconds_per_image
    eval_s = work.eval_images * timing.eval_seconds_per_image
    shape = "×".join(str(s) for s in spec.image_shape)
    scaled = "" if timing.batch == spec.config.train.batch_size else f" (of {spec.config.train.batch_size}: per-image time scaled)"
    lines = [
        f"time forecast on {timing.device}: {spec.config.model.backbone} at {shape}, {spec.num_classes} classes, measured "
        f"{timing.steps} training step{'s' if timing.steps > 1 else ''} at batch {timing.batch}{scaled} on random input: "
        f"{_rate(timing.train_seconds_per_image)} images/s training, {_rate(timing.eval_seconds_per_image)} images/s evaluation",
        f"plan: {work.train_steps:,} training steps ({work.train_images:,} images) + {work.eval_images:,} test images evaluated"
        + (f"; assuming {per_class[0]:,.0f} training and {per_class[1]:,.0f} test images per class (the registered "
           "dataset's average; the files were not read)" if per_class else ""),
        f"forecast: {_duration(train_s + eval_s)} (training {_duration(train_s)}, evaluation {_duration(eval_s)})",
        "not included: reading and decoding the images and their augmentation (the data path), a method's extra "
        "passes (a teacher's forward, MEMO/DER branches, uncertainty, herding and statistics passes, CB fine-tuning), "
        "checkpoints; memory rows are counted as raw exemplars",
    ]
    return "\n".join(lines)


def _rate(seconds_per_image: float) -> str:
    rate = 1 / seconds_per_image
    return f"{rate:,.0f}" if rate >= 10 else f"{rate:.2g}"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def dry_run_time_text(spec: RunSpec, probe: StepProbe, stand_in: bool) -> str:
    """`forecast_time_text` with the memory the budget forecast expects before each task (raw
    exemplars; none for a method without memory) and the registered images per class."""
    from retain.data import declared_train_test_sizes
    from retain.runs.budgeting import forecast
    from retain.methods.base import replay_mode

    config = spec.config
    memory_rows = memory_batch = None
    if spec.method_cls.uses_memory and spec.budget is not None:
        stored = [row.stored for row in forecast(spec.budget, spec.seen_per_task, config.memory.per_class)]
        online = config.scenario.stream == "online"
        memory_rows = stored if online else [0] + stored[:-1]  # online: the epochs over the memory follow its update
        if replay_mode(config.memory, spec.method_cls) == "batch" and not online:
            memory_batch = config.memory.batch_size or config.train.batch_size
    sizes = declared_train_test_sizes(config.data.name, config.data.options) if stand_in else None
    return forecast_time_text(spec, probe, stand_in, sizes, memory_rows, memory_batch or 0)
