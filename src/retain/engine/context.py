"""The run context: what a method may use from the run (data, plan, device, services)."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from retain.augment import Augmenter
from retain.data import Dataset
from retain.engine.collectives import Group
from retain.engine.feed import StreamFeed
from retain.scenarios import Plan, TaskSpec

if TYPE_CHECKING:
    from retain.config import RetainConfig
    from retain.config.memory import MemoryConfig
    from retain.config.sections import TrainConfig


@dataclass(frozen=True)
class RunSettings:
    """What a method may read of the run's configuration besides its own `Params`: the training
    recipe, the memory section it builds its memory from, and a few run-wide facts. Methods read
    these (`ctx.settings`), never the whole config (tests/methods/test_method_contract.py)."""

    seed: int
    method_name: str
    train: TrainConfig         # batch size, lr, momentum, weight decay, gamma, drop_last
    memory: MemoryConfig       # what the exemplar memory is built from (budget, codec, policy, ...)
    eval_batch_size: int
    channels_last: bool        # train.channels_last, resolved
    cutmix: bool               # augment.cutmix
    resized_crop: bool         # augment.resized_crop: an encoded dataset's training rows arrive cropped
    online: bool               # scenario.stream == online (RM's protocol)
    full_head: bool            # model.head == full: a head of every class from the first task on
    head_init: str             # model.head_init
    backbone: str              # model.backbone (for messages)
    charges_model: bool        # budget.protocol is fair or auc: grown parameters are charged to the budget

    @classmethod
    def of(cls, config: RetainConfig) -> RunSettings:
        """The settings of a resolved config."""
        return cls(
            seed=config.seed, method_name=config.method_name, train=config.train, memory=config.memory,
            eval_batch_size=config.eval.batch_size, channels_last=bool(config.train.channels_last),
            cutmix=config.augment.cutmix, resized_crop=config.augment.resized_crop, online=config.scenario.stream == "online",
            full_head=config.model.head == "full", head_init=config.model.head_init, backbone=config.model.backbone,
            charges_model=config.budget.protocol != "benchmark",
        )


@dataclass
class RunContext:
    """Shared services of one run, handed to the method at construction.

    The dataset's labels are already remapped to the plan's class order and its tensors live
    on `device`. `generator` drives batch sampling; the augmenter has its own generator.
    """

    config: RetainConfig
    dataset: Dataset
    plan: Plan
    device: torch.device
    augmenter: Augmenter
    generator: torch.Generator
    settings: RunSettings = field(init=False)  # what methods read of the config (RunSettings.of(config))
    budget_bytes: int | None = None
    log: Any = field(default=print)
    dist: Group | None = None  # the process group of a distributed run (engine/collectives.py); None: one process
    # budget.exemplars=fixed (fair/auc): the bytes exemplars may use at every task (the last
    # task's count as raw images), below what the budget would leave in early tasks.
    exemplar_bytes: int | None = None
    # `train.reset_optimizer: false`: the optimiser state per parameter name at the end of the
    # last task, handed to the next task's optimiser (saved with the checkpoints).
    optimizer_carry: dict[str, dict[str, Any]] | None = None
    _feed: StreamFeed | None = field(default=None, repr=False)

    @property
    def feed(self) -> StreamFeed:
        """The stream rows of training batches (engine/feed.py), made on first use."""
        if self._feed is None:
            self._feed = StreamFeed(self.dataset.train, self.augmenter, self.dist)
        return self._feed

    # ------------------------------------------------------------------ training recipe
    def epochs_for(self, task: TaskSpec) -> int:
        """Training epochs of `task`: `train.first_epochs` for the first task when set, else `train.epochs`."""
        train = self.config.train
        if task.index == 0 and train.first_epochs is not None:
            return train.first_epochs
        return train.epochs

    def __post_init__(self) -> None:
        self.settings = RunSettings.of(self.config)

    # ------------------------------------------------------------------ models
    def build_backbone(self, **overrides: Any) -> nn.Module:
        """The configured backbone for this dataset's image shape."""
        from retain.models import build_backbone

        channels, height, _ = self.dataset.image_shape
        options = {**self.config.model.options, **overrides}
        return build_backbone(self.config.model.backbone, in_channels=channels, image_size=height, **options)

    def build_split_backbone(self) -> Any:
        """The configured backbone cut into a generalized part and specialized blocks (MEMO)."""
        from retain.models import build_split_backbone

        channels, height, _ = self.dataset.image_shape
        return build_split_backbone(self.config.model.backbone, channels, height, **self.config.model.options)

    def build_incremental_net(self, **overrides: Any) -> nn.Module:
        """The configured backbone with an incremental linear head (no classes yet); with
        `model.head_norm: batchnorm` the head is bias-free with a BatchNorm over its logits."""
        from retain.models import IncrementalNet, NormalizedLinear

        model = self.config.model
        backbone = self.build_backbone(**overrides)
        if model.head_norm == "batchnorm":
            head = NormalizedLinear(backbone.out_dim, init=model.head_init, eps=model.head_norm_eps)
            return IncrementalNet(backbone, head=head)
        return IncrementalNet(backbone, head_init=model.head_init)

    # ------------------------------------------------------------------ data services
    def train_images(self, indices: torch.Tensor) -> torch.Tensor:
        """uint8 training rows by dataset index, on the device."""
        return self.dataset.train.images[indices.to(self.dataset.train.images.device)]

    def train_labels(self, indices: torch.Tensor) -> torch.Tensor:
        """int64 (remapped) training labels by dataset index, on the device."""
        return self.dataset.train.labels[indices.to(self.dataset.train.labels.device)]

    @torch.inference_mode()
    def forward_eval(self, network: nn.Module, images: torch.Tensor, batch_size: int | None = None) -> dict[str, torch.Tensor]:
        """Run `network` in eval mode over uint8 images with the evaluation transform, in large batches.

        Returns the concatenated outputs ("logits", "features", ...). The network's train/eval
        mode is restored afterwards.
        """
        batch_size = batch_size or self.config.eval.batch_size
        was_training = network.training
        network.eval()
        outputs: dict[str, list[torch.Tensor]] = {}
        try:
            for start in range(0, images.shape[0], batch_size):
                x = self.augmenter.eval(images[start : start + batch_size].to(self.device))
                if self.config.train.channels_last and x.shape[1] > 1:
                    x = x.contiguous(memory_format=torch.channels_last)
                with self.autocast():
                    out = network(x)
                for key, value in out.items():
                    if isinstance(value, torch.Tensor):
                        outputs.setdefault(key, []).append(value.float())
        finally:
            network.train(was_training)
        return {key: torch.cat(parts) for key, parts in outputs.items()}

    def autocast(self):
        """bf16 autocast when configured, a no-op context otherwise."""
        if not self.config.train.bf16:
            return nullcontext()  # cheaper per step than a disabled torch.autocast
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
