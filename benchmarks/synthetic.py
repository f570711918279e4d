"""Synthetic CIFAR- and MNIST-sized data and a retain run built on it (no download, no disk)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import torch

from retain.augment import Augmenter
from retain.data import Dataset, ImageSplit, LoadRequest, register_dataset
from retain.engine.context import RunContext
from retain.runs.config import RetainConfig, validate_config
from retain.runs.loop import remap_dataset, resolve_device, seed_everything
from retain.methods import Method, get_method_class
from retain.scenarios import Plan, TaskSpec, make_plan


@dataclass(frozen=True)
class Workload:
    """A backbone on an image shape, with the augmentation both pipelines apply."""

    key: str
    title: str
    backbone: str
    image_shape: tuple[int, int, int]
    options: dict[str, Any] = field(default_factory=dict)
    crop_padding: int = 4
    flip: bool = True


WORKLOADS = {
    "resnet32": Workload("resnet32", "ResNet-32, 32×32×3", "resnet32", (3, 32, 32)),
    "mlp": Workload("mlp", "MLP 784-400-400, 28×28", "mlp", (1, 28, 28), {"hidden": [400, 400]}),
    # As the Fashion-MNIST presets train it: normalisation only.
    "mlp-fmnist": Workload("mlp-fmnist", "MLP 784-400-400, 28×28, no augmentation", "mlp", (1, 28, 28),
                           {"hidden": [400, 400]}, crop_padding=0, flip=False),
}


def synthetic_dataset(image_shape: tuple[int, int, int], num_classes: int, train_per_class: int, test_per_class: int, seed: int = 0) -> Dataset:
    """Uniform-noise uint8 images with balanced labels (speed does not depend on content)."""
    g = torch.Generator().manual_seed(seed)

    def split(per_class: int) -> ImageSplit:
        n = per_class * num_classes
        images = torch.randint(0, 256, (n, *image_shape), generator=g, dtype=torch.uint8)
        labels = torch.arange(num_classes, dtype=torch.int64).repeat_interleave(per_class)
        return ImageSplit(images, labels[torch.randperm(n, generator=g)])

    channels = image_shape[0]
    return Dataset(
        name="synthetic",
        train=split(train_per_class),
        test=split(test_per_class),
        class_names=[f"class{i}" for i in range(num_classes)],
        mean=(0.5,) * channels,
        std=(0.25,) * channels,
    )


@register_dataset("synthetic")
def load_synthetic(request: LoadRequest, *, channels: int = 3, size: int = 32, num_classes: int = 20,
                   train_per_class: int = 100, test_per_class: int = 10, seed: int = 0) -> Dataset:
    """The synthetic data as a registered dataset (`data.name: synthetic`, its shape in `data.options`)."""
    return synthetic_dataset((channels, size, size), num_classes, train_per_class, test_per_class, seed)


@dataclass
class SyntheticRun:
    """A method on a run context over synthetic data, as `retain run` would build it."""

    config: RetainConfig
    ctx: RunContext
    method: Method
    plan: Plan


def build_run(
    workload: Workload,
    dataset: Dataset,
    method: str = "replay",
    increment: int = 10,
    device: str = "cpu",
    batch_size: int = 128,
    epochs: int = 1,
    budget: str | None = "2000 images",
    train: dict[str, Any] | None = None,
    method_params: dict[str, Any] | None = None,
    seed: int = 0,
    memory: dict[str, Any] | None = None,
) -> SyntheticRun:
    """Config → plan → remapped data → augmenter → context → method, like `build_setup`."""
    tree: dict[str, Any] = {
        "seed": seed,
        "device": device,
        "data": {"name": "synthetic", "download": False},
        "scenario": {"kind": "class-incremental", "base": 0, "increment": increment, "order": "natural"},
        "model": {"backbone": workload.backbone, "options": dict(workload.options)},
        "method": {"name": method, **(method_params or {})},
        "memory": {"budget": budget, **(memory or {})},
        "augment": {"crop_padding": workload.crop_padding, "flip": workload.flip, "normalize": True},
        "train": {"epochs": epochs, "batch_size": batch_size, "lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4, **(train or {})},
        "eval": {"batch_size": 1000},
    }
    config = validate_config(tree)
    seed_everything(seed)
    torch_device = resolve_device(device)
    plan = make_plan(config.scenario, dataset.train.labels.numpy(), dataset.test.labels.numpy(), dataset.num_classes)
    data = remap_dataset(dataset, plan).to(torch_device)
    budget_bytes = None
    if budget is not None:
        from retain.budget.units import parse_budget, raw_image_bytes

        budget_bytes = parse_budget(budget, raw_image_bytes(data.image_shape))
    augmenter = Augmenter(config.augment, data.mean, data.std, device=torch_device, seed=seed)
    ctx = RunContext(
        config=config, dataset=data, plan=plan, device=torch_device, augmenter=augmenter,
        generator=torch.Generator().manual_seed(seed), budget_bytes=budget_bytes, log=lambda *_: None,
    )
    method_cls = get_method_class(method)
    instance = method_cls(ctx, method_cls.Params.model_validate(method_params or {}))
    instance.check_setup()
    return SyntheticRun(config, ctx, instance, plan)


def with_indices(task: TaskSpec, train_indices: Any) -> TaskSpec:
    """The same task training on a subset of its rows (to fix the number of steps)."""
    return dataclasses.replace(task, train_indices=train_indices)


def fill_memory(run: SyntheticRun, task: TaskSpec, rows: int) -> None:
    """Put `rows` raw training images of `task`'s classes straight into the method's memory."""
    data = run.ctx.dataset.train
    indices = torch.as_tensor(task.train_indices[:rows], device=data.images.device)
    store = run.method.memory.store
    store.add(data.images[indices], data.labels[indices], task=task.index)
