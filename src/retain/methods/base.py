"""The method contract: the hooks through which the engine drives a method."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict
from torch import nn

from retain.augment import CutMixResult, mixed_cross_entropy

if TYPE_CHECKING:
    from retain.engine.context import RunContext
    from retain.scenarios import TaskSpec


# Phase names of the online protocol (`scenario.stream: online`): one pass over the stream, then
# epochs over the memory only (the memory is updated in between).
STREAM_PASS = "stream"
MEMORY_EPOCHS = "memory"


@dataclass(frozen=True)
class Setting:
    """The kind of run a method is asked to learn in: the split, the stream and the memory codec
    (None for a method without memory). `Method.refusal` answers whether it can."""

    kind: str                 # scenario.kind: "class-incremental" | "blurry"
    stream: str               # scenario.stream: "offline" | "online"
    codec: str | None = None  # memory.codec: "raw" | "jpeg"

    def describe(self) -> str:
        codec = "" if self.codec is None else f", memory.codec={self.codec}"
        return f"scenario.kind={self.kind}, scenario.stream={self.stream}{codec}"


def setting_of(config: Any, uses_memory: bool) -> Setting:
    """The setting a run's config asks for."""
    return Setting(config.scenario.kind, config.scenario.stream, config.memory.codec if uses_memory else None)


class MethodParams(BaseModel):
    """Hyperparameters of a method; subclasses add fields, unknown keys are refused."""

    model_config = ConfigDict(extra="forbid")


@dataclass
class Phase:
    """One stretch of training inside a task: which rows feed the batches, and for how long.

    `stream` holds indices into the training split that are iterated once per epoch.
    `memory` says how memory rows take part: not at all, mixed into the shuffled pool
    ("concat", iCaRL/LUCIR style), or as an extra minibatch drawn for every step
    ("batch", experience-replay style).
    """

    stream: torch.Tensor
    epochs: int
    memory: Literal["none", "concat", "batch"] = "none"
    memory_batch_size: int = 0
    batch_size: int | None = None
    name: str = "train"
    fresh_optimizer: bool = True
    lr: float | None = None


@dataclass
class Batch:
    """A training batch after gathering and augmentation."""

    images: torch.Tensor          # float, augmented and normalised
    labels: torch.Tensor          # int64, remapped label space
    raw: torch.Tensor             # uint8 rows before augmentation
    from_memory: torch.Tensor     # bool mask: row came from the memory
    indices: torch.Tensor         # dataset index for stream rows, memory slot for memory rows
    extras: dict[str, torch.Tensor] = field(default_factory=dict)  # memory columns of the memory rows
    step: int = 0                 # optimiser steps taken in this task so far
    mix: CutMixResult | None = None  # set when augment.cutmix pasted a box into `images`


@dataclass
class Prediction:
    """What a method answers for a batch of evaluation images."""

    logits: torch.Tensor                    # (N, seen classes): the "cnn" scores
    features: torch.Tensor | None = None    # penultimate features (for NME and statistics)
    scores: dict[str, torch.Tensor] = field(default_factory=dict)  # other score sets, e.g. "nme"


class Method:
    """Base class of every method: owns its network and reacts to the engine's hooks.

    Subclasses set `name`, optionally `Params`, and override the hooks they need. The default
    behaviour is plain fine-tuning: grow the head for new classes, cross-entropy on the task's
    data, predict with the head's logits.
    """

    name: ClassVar[str] = ""
    Params: ClassVar[type[MethodParams]] = MethodParams
    uses_memory: ClassVar[bool] = False
    primary_score: ClassVar[str] = "cnn"
    # True when every loss term goes through `classification_loss`, so a CutMix-ed batch is
    # scored by λ·CE(y_a) + (1 − λ)·CE(y_b); methods with label-dependent terms set False.
    supports_cutmix: ClassVar[bool] = True

    @classmethod
    def refusal(cls, setting: Setting) -> str | None:
        """Why this method cannot learn in `setting` (None: it can). Checked before anything is
        built; the method × setting table in docs/matrix.md is generated from it."""
        return None

    def __init__(self, ctx: RunContext, params: MethodParams) -> None:
        setting = setting_of(ctx.config, self.uses_memory)
        reason = self.refusal(setting)
        if reason is not None:
            from retain.errors import ConfigError

            raise ConfigError(f"method.name={self.name!r} does not run with {setting.describe()}: {reason}")
        self.ctx = ctx
        self.params = params
        self.network: nn.Module = self.build_network().to(ctx.device)
        if ctx.config.train.channels_last and ctx.dataset.image_shape[0] > 1:
            self.network = self.network.to(memory_format=torch.channels_last)
        self.current_task: TaskSpec | None = None
        if ctx.config.augment.cutmix and not self.supports_cutmix:
            from retain.errors import ConfigError

            raise ConfigError(
                f"augment.cutmix = true is not supported by method.name={self.name!r}: its loss has terms "
                "that depend on each sample's own label. Use augment.cutmix = false with this method."
            )

    # ------------------------------------------------------------------ construction
    def build_network(self) -> nn.Module:
        """The network this method trains; by default the configured backbone with a growing head."""
        return self.ctx.build_incremental_net()

    # ------------------------------------------------------------------ hooks
    def check_setup(self) -> None:
        """Fail before any training on settings that cannot work (e.g. a budget below one exemplar per class)."""

    def before_task(self, task: TaskSpec) -> None:
        """Prepare for a task: by default grow the head to cover every class seen so far."""
        self.current_task = task
        grow_head_to(self.network, len(task.seen_classes))

    def training_phases(self, task: TaskSpec) -> list[Phase]:
        """The phases of training for this task; by default the task's data for the configured epochs,
        or one pass over it under `scenario.stream: online` (a memory-free method keeps nothing to
        train on after the stream has passed)."""
        stream = torch.as_tensor(task.train_indices)
        if self.ctx.config.scenario.stream == "online":
            return [Phase(stream=stream, epochs=1, name=STREAM_PASS)]
        return [Phase(stream=stream, epochs=self.ctx.epochs_for(task))]

    def before_phase(self, task: TaskSpec, phase: Phase) -> None:
        """Called before each phase's epochs (RM's online memory update between its two phases)."""

    def trainable_parameters(self) -> list[nn.Parameter] | list[dict[str, Any]]:
        """Parameters (or param groups) handed to the optimiser."""
        return [p for p in self.network.parameters() if p.requires_grad]

    def training_loss(self, batch: Batch) -> torch.Tensor | tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Loss of one batch; may also return named terms to log (as tensors, no host sync)."""
        logits = self.network(batch.images)["logits"]
        return classification_loss(logits, batch)

    def after_step(self, batch: Batch) -> None:
        """Called after every optimiser step (reservoir insertion, bookkeeping)."""

    def after_task(self, task: TaskSpec) -> None:
        """Called after training on a task, before evaluation (memory update, statistics)."""

    @torch.inference_mode()
    def predict(self, images: torch.Tensor) -> Prediction:
        """Scores for evaluation images (already normalised by the evaluation transform)."""
        out = self.network(images)
        return Prediction(logits=out["logits"], features=out.get("features"))

    def ledger_items(self) -> dict[str, int]:
        """Bytes this method keeps beyond one backbone, by item (exemplars, extra parameters, ...)."""
        return {}

    def exemplars_per_class(self) -> dict[int, int]:
        """Number of stored exemplars per class (empty for memory-free methods)."""
        return {}

    def extra_results(self) -> dict[str, Any]:
        """Method-specific values to save in results.json (quality search, guard counts, ...)."""
        return {}

    # ------------------------------------------------------------------ persistence
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue the run: network weights and the method's own state."""
        return {"network": self.network.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` returned."""
        self.network.load_state_dict(state["network"])


def classification_loss(logits: torch.Tensor, batch: Batch, reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy on the batch labels, or CutMix's λ·CE(y_a) + (1 − λ)·CE(y_b) when the batch was mixed."""
    if batch.mix is None:
        return F.cross_entropy(logits, batch.labels, reduction=reduction)
    return mixed_cross_entropy(logits, batch.mix, reduction=reduction)


def grow_head_to(network: nn.Module, num_classes: int) -> None:
    """Grow an incremental network's head so that it has at least `num_classes` outputs."""
    head = network.head
    missing = num_classes - head.num_classes
    if missing > 0:
        network.grow(missing)


_REGISTRY: dict[str, type[Method]] = {}


def register_method(name: str):
    """Class decorator: make a method available under `method.name = name`."""

    def decorate(cls: type[Method]) -> type[Method]:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise RuntimeError(f"method name {name!r} registered twice")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return decorate


def method_registry() -> dict[str, type[Method]]:
    """All registered methods by name."""
    return dict(_REGISTRY)
