"""Rainbow Memory's cost against a plain ER step at the same batch (issue 13, item 5).

Fashion-MNIST-shaped synthetic data (1×28×28, 10 classes), the rm-fmnist-blurry10-online model
(MLP 784-400-400 with BN) and batch: 8 stream + 8 memory rows per step. Rows:

* ER step: reservoir replay, normalisation only (the reference every other row is divided by);
* ER step + RM's augmentation: crop(4) + flip + AutoAugment(CIFAR-10) + CutMix on the same batch;
* RM step: method `rainbow` with that augmentation (its training step as the presets run it);
* RM memory update: one online update after a task (variation ratio over 12 RandAugment
  perturbations of every candidate, stream ∪ memory, then the stride selection), reported per
  update and as "ER steps"; the last column divides it over the stream pass's steps.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable

import torch

from benchmarks.runner import BenchmarkResult, Settings
from benchmarks.synthetic import Workload, build_run, fill_memory, synthetic_dataset, with_indices
from retain.engine.trainer import train_task
from retain.methods.base import Phase

MLP_BN = Workload("mlp-bn", "MLP 784-400-400 (BN), 28×28", "mlp", (1, 28, 28), {"hidden": [400, 400], "batchnorm": True})
RM_AUGMENT = {"autoaugment": "cifar10", "cutmix": True}
HALF = 8  # rows from the stream and from the memory in every step (RM: batch 16)


def _sizes(settings: Settings) -> dict[str, int]:
    if settings.tiny:
        return {"steps": 4, "per_class": 40, "memory": 40}
    if settings.quick:
        return {"steps": 100, "per_class": 600, "memory": 500}
    return {"steps": 300, "per_class": 1200, "memory": 500}


def _build(method: str, sizes: dict[str, int], augment: dict | None = None, policy: str | None = None):
    dataset = synthetic_dataset(MLP_BN.image_shape, 10, sizes["per_class"], 10)
    workload = dataclasses.replace(MLP_BN)
    run = build_run(workload, dataset, method=method, increment=10, batch_size=2 * HALF,
                    budget=f"{sizes['memory']} images", train={"nesterov": True, "weight_decay": 1e-4})
    config = run.config
    if augment:
        run.ctx.config = config.model_copy(update={"augment": config.augment.model_copy(update=augment)})
        from retain.augment import Augmenter

        data = run.ctx.dataset
        run.ctx.augmenter = Augmenter(run.ctx.config.augment, data.mean, data.std, device=run.ctx.device, seed=0)
    if policy:
        from retain.memory import build_policy

        run.method.memory.policy = build_policy(policy)
    task = run.plan.tasks[0]
    run.method.before_task(task)
    fill_memory(run, task, sizes["memory"])
    return run, task


def cpu_seconds(fn: Callable[[], object], repeats: int) -> float:
    """Median CPU seconds of this process over `repeats` calls after one warm-up: unlike wall time
    it does not grow when other jobs share the cores (run with OMP_NUM_THREADS=1)."""
    fn()
    seconds = []
    for _ in range(repeats):
        started = time.process_time()
        fn()
        seconds.append(time.process_time() - started)
    return statistics.median(seconds)


def _step_seconds(run, task, steps: int, repeats: int) -> float:
    """Seconds per step of one pass of `steps` steps: HALF stream rows + HALF memory rows each."""
    stream = torch.as_tensor(task.train_indices[: steps * HALF])
    phase = Phase(stream=stream, epochs=1, memory="batch", memory_batch_size=HALF, batch_size=HALF, name="train")
    method = run.method
    method.training_phases = lambda t: [phase]
    method.after_step = lambda batch: None  # the memory stays as filled: the same steps every repeat
    return cpu_seconds(lambda: train_task(method, task, run.ctx), repeats) / steps


def run_benchmark(settings: Settings) -> BenchmarkResult:
    sizes = _sizes(settings)
    repeats = settings.repeats
    er, task = _build("replay", sizes, policy="reservoir")
    er_step = _step_seconds(er, task, sizes["steps"], repeats)
    er_aug, task = _build("replay", sizes, augment=RM_AUGMENT, policy="reservoir")
    er_aug_step = _step_seconds(er_aug, task, sizes["steps"], repeats)
    rm, task = _build("rainbow", sizes, augment=RM_AUGMENT)
    rm_step = _step_seconds(rm, task, sizes["steps"], repeats)

    # One memory update of a later task: candidates = the task's stream ∪ the memory.
    later = with_indices(dataclasses.replace(task, index=1), task.train_indices)

    def update() -> None:
        rm.method.updated_task = -1
        store = rm.method.memory.store
        store.clear()
        fill_memory(rm, task, sizes["memory"])
        rm.method.update_memory(later)

    update_seconds = cpu_seconds(update, min(repeats, 3))
    candidates = len(later.train_indices) + sizes["memory"]
    stream_steps = len(later.train_indices) / HALF

    result = BenchmarkResult("rainbow", ["operation", "CPU ms", "× ER step", "note"])
    result.rows = [
        {"operation": "ER step (reservoir, 8 + 8 rows)", "CPU ms": er_step * 1e3, "× ER step": 1.0, "note": "normalisation only"},
        {"operation": "ER step + RM's augmentation", "CPU ms": er_aug_step * 1e3, "× ER step": er_aug_step / er_step,
         "note": "crop(4) + flip + AutoAugment + CutMix"},
        {"operation": "RM step (rainbow, 8 + 8 rows)", "CPU ms": rm_step * 1e3, "× ER step": rm_step / er_step, "note": "rm-* presets' augmentation"},
        {"operation": "RM memory update (one task)", "CPU ms": update_seconds * 1e3, "× ER step": update_seconds / er_step,
         "note": f"{candidates:,} candidates × 12 RandAugment perturbations"},
        {"operation": "RM memory update per stream step", "CPU ms": update_seconds / stream_steps * 1e3,
         "× ER step": update_seconds / stream_steps / er_step, "note": f"spread over the {stream_steps:,.0f} steps of the stream pass"},
    ]
    result.summary["RM step / ER step"] = rm_step / er_step
    result.summary["(RM step + update per step) / ER step"] = (rm_step + update_seconds / stream_steps) / er_step
    result.notes.append(
        f"MLP 784-400-400 with BN on 1×28×28 synthetic images, {sizes['steps']} steps per timing, SGD with nesterov; "
        f"memory {sizes['memory']} rows; the update ranks {candidates:,} candidates (the size of a Blurry10 task of Fashion-MNIST). "
        "Times are CPU seconds of the benchmark process (run with OMP_NUM_THREADS=1), so a busy machine does not inflate them."
    )
    return result
