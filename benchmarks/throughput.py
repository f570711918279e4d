"""Training images/s: (a) bare compute, (b) retain's full training step, (c) a per-sample reference.

(a) forward + loss + backward + SGD step on one pre-made, pre-augmented float batch: the
compute limit of this machine. (b) `retain.engine.trainer.train_task` on synthetic data with a
replay memory: batch sampling, index gather from the task data and the memory, augmentation
and normalisation of uint8 rows, loss and step — the engine's own code path. (c) PyCIL/Mammoth
style: a Dataset turning every image into PIL and transforming it alone, a DataLoader with 2
workers, then the same network and step. All three use the same batch size and augmentation.
(a) and (b) are timed in turns (benchmarks.runner.interleaved). `python -m benchmarks step`
measures the same (a)/(b) for small networks at batch 10 to 128.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from benchmarks.reference import reference_loader
from benchmarks.runner import BenchmarkResult, Settings, interleaved, repeat
from benchmarks.synthetic import WORKLOADS, SyntheticRun, Workload, build_run, fill_memory, synthetic_dataset, with_indices
from retain.engine import sampling, trainer
from retain.engine.optim import build_optimizer


@dataclass(frozen=True)
class Sizes:
    batch_size: int
    steps: int          # optimiser steps per timed repeat
    workers: int        # reference DataLoader processes


def sizes_for(workload: Workload, settings: Settings) -> Sizes:
    if settings.tiny:
        return Sizes(batch_size=16, steps=2, workers=0)
    heavy = workload.backbone != "mlp"
    if settings.quick:
        return Sizes(batch_size=128, steps=2 if heavy else 15, workers=2)
    return Sizes(batch_size=128, steps=8 if heavy else 60, workers=2)


def prepare(workload: Workload, sizes: Sizes, settings: Settings, method: str = "replay",
            train: dict | None = None, dataset=None) -> tuple[SyntheticRun, object]:
    """A replay run (or `method`, e.g. iCaRL with its teacher) on task 2 whose pool (task rows +
    memory rows, 5:2 as in cifar100-b0-inc10) is exactly `steps` batches; returns the run and the
    shortened task. `train` overrides training settings (bf16, channels_last); `dataset` reuses
    one made by `prepare_dataset` for these sizes."""
    pool = sizes.steps * sizes.batch_size
    memory_rows = pool * 2 // 7
    dataset = dataset if dataset is not None else prepare_dataset(workload, sizes)
    run = build_run(
        workload, dataset, method=method, device=settings.device, batch_size=sizes.batch_size,
        budget=f"{max(memory_rows, 20)} images", train=train,
    )
    first, second = run.plan.tasks[0], run.plan.tasks[1]
    run.method.before_task(first)
    fill_memory(run, first, memory_rows)
    task = with_indices(second, second.train_indices[: pool - memory_rows])
    run.method.before_task(task)
    return run, task


def prepare_dataset(workload: Workload, sizes: Sizes):
    """Synthetic data with enough rows of each of 20 classes for `prepare`'s pool and memory."""
    pool = sizes.steps * sizes.batch_size
    per_class = max(pool, pool * 2 // 7) // 10 + 1
    return synthetic_dataset(workload.image_shape, num_classes=20, train_per_class=per_class, test_per_class=2)


def bare_step_fn(run: SyntheticRun, sizes: Sizes, rows: int | None = None, wrap=None):
    """(a): the same network, loss and optimiser on a fixed, already augmented batch of `rows`
    images (the batch size unless the step also trains on a memory minibatch), under the run's
    bf16 autocast when it has one. `wrap(network)` may change the copy first (torch.compile)."""
    rows = rows or sizes.batch_size
    network = copy.deepcopy(run.method.network).train()
    if wrap is not None:
        wrap(network)
    optimizer = build_optimizer([p for p in network.parameters() if p.requires_grad], run.config.train, first_task=False)
    data = run.ctx.dataset.train
    images = run.ctx.augmenter.train(data.images[:rows])
    if run.config.train.channels_last and images.shape[1] > 1:
        images = images.contiguous(memory_format=torch.channels_last)
    labels = data.labels[:rows] % run.method.network.head.num_classes

    def steps() -> None:
        for _ in range(sizes.steps):
            with run.ctx.autocast():
                loss = F.cross_entropy(network(images)["logits"], labels)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

    return steps


def retain_step_fn(run: SyntheticRun, task):
    """(b): one epoch of the engine's training loop over the pool."""
    return lambda: trainer.train_task(run.method, task, run.ctx)


def data_path_fn(run: SyntheticRun, task):
    """(b) without the network: sampling, gather and augmentation only (where (b) exceeds (a))."""
    phase = run.method.training_phases(task)[0]
    batch_size = run.config.train.batch_size

    def epoch() -> None:
        for stream_idx, memory_slots, _ in sampling.epoch_batches(run.ctx, run.method, phase, batch_size, drop=False):
            sampling.gather(run.ctx, run.method, stream_idx, memory_slots)

    return epoch


def reference_fn(run: SyntheticRun, task, sizes: Sizes, workload: Workload):
    """(c): per-sample PIL transforms in DataLoader workers, then the same step."""
    data = run.ctx.dataset.train
    indices = torch.as_tensor(task.train_indices)
    store = run.method.memory.store
    images = torch.cat([data.images[indices].cpu(), store.gather(torch.arange(len(store))).cpu()])
    labels = torch.cat([data.labels[indices].cpu(), store.labels.cpu()])
    loader = reference_loader(
        images, labels, sizes.batch_size, workload.crop_padding, workload.flip,
        run.ctx.dataset.mean, run.ctx.dataset.std, workers=sizes.workers,
    )
    # PyCIL/Mammoth keep the default memory format.
    network = copy.deepcopy(run.method.network).to(memory_format=torch.contiguous_format).train()
    optimizer = build_optimizer([p for p in network.parameters() if p.requires_grad], run.config.train, first_task=False)
    device = run.ctx.device

    def epoch() -> None:
        for x, y in loader:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            loss = F.cross_entropy(network(x)["logits"], y)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

    return epoch, loader


def measure(workload: Workload, settings: Settings) -> dict:
    """The three throughputs (and the data path alone) of one workload, images/s."""
    sizes = sizes_for(workload, settings)
    run, task = prepare(workload, sizes, settings)
    images = sizes.steps * sizes.batch_size
    repeats, device = settings.repeats, settings.device
    timings = interleaved({"bare": bare_step_fn(run, sizes), "retain": retain_step_fn(run, task)}, repeats, sync=device)
    bare, full = timings["bare"], timings["retain"]
    data_path = repeat(data_path_fn(run, task), repeats, sync=device)
    epoch, loader = reference_fn(run, task, sizes, workload)
    reference = repeat(epoch, repeats, sync=device)
    del loader  # ends its worker processes
    row = {
        "workload": workload.title,
        "batch": sizes.batch_size,
        "channels_last": run.config.train.channels_last,
        "(a) bare img/s": images / bare.median,
        "(b) retain img/s": images / full.median,
        "(c) per-sample img/s": images / reference.median,
        "(b)/(a)": bare.median / full.median,
        "(b)/(c)": reference.median / full.median,
        "data path share of (b)": data_path.median / full.median,
        "spread (b)": full.spread,
    }
    row["_seconds"] = {"bare": bare.seconds, "retain": full.seconds, "data_path": data_path.seconds, "reference": reference.seconds}
    return row


COLUMNS = [
    "workload", "batch", "channels_last", "(a) bare img/s", "(b) retain img/s", "(c) per-sample img/s",
    "(b)/(a)", "(b)/(c)", "data path share of (b)", "spread (b)",
]

def run_benchmark(settings: Settings) -> BenchmarkResult:
    result = BenchmarkResult("throughput", COLUMNS)
    for key in ("resnet32", "mlp"):
        result.rows.append(measure(WORKLOADS[key], settings))
    result.notes += [
        "(a) forward+loss+backward+SGD step on one pre-made augmented float batch (compute limit);",
        "(b) retain.engine.trainer.train_task, replay with a raw memory, pool = 5 task rows : 2 memory rows, "
        "RandomCrop(pad 4) + flip + normalise on uint8 batches;",
        "(c) torch Dataset → PIL per sample (same crop/flip/ToTensor/Normalize), DataLoader(num_workers=2, "
        "persistent_workers=True), same network and step;",
        "data path share: sampling + gather + augmentation alone (engine/sampling.py: epoch_batches, gather), as a fraction of (b).",
    ]
    return result
