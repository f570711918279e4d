"""The method contract: the hooks through which the engine drives a method."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import torch
import torch.nn.functional as F
from torch import nn

from retain.augment import mixed_cross_entropy
from retain.config.strict import StrictSection
from retain.engine.batch import MEMORY_EPOCHS, STREAM_PASS, Batch, Phase, Prediction  # noqa: F401  (re-exported: the method contract's data)
from retain.methods.distillation import frozen_copy
from retain.methods.state import declared, restore_attributes, save_attributes
from retain.registry import Registry

if TYPE_CHECKING:
    from retain.engine.context import RunContext
    from retain.scenarios import TaskSpec


@dataclass(frozen=True)
class Setting:
    """The kind of run a method is asked to learn in: the split, the stream, the memory codec
    (None for a method without memory), how the memory is replayed (`memory.replay`, resolved:
    None for a method without memory unless the config sets it) and the head (`model.head`).
    `Method.refusal` answers whether it can."""

    kind: str                 # scenario.kind: "class-incremental" | "blurry"
    stream: str               # scenario.stream: "offline" | "online"
    codec: str | None = None  # memory.codec: "raw" | "jpeg"
    replay: str | None = None  # memory.replay: "concat" | "batch"
    head: str = "growing"     # model.head: "growing" | "full"

    def describe(self) -> str:
        """The setting as the config fields that give it."""
        codec = "" if self.codec is None else f", memory.codec={self.codec}"
        replay = "" if self.replay is None else f", memory.replay={self.replay}"
        head = "" if self.head == "growing" else f", model.head={self.head}"
        return f"scenario.kind={self.kind}, scenario.stream={self.stream}{codec}{replay}{head}"


def replay_mode(memory: Any, method: type[Method]) -> str:
    """`memory.replay` as the run will use it (`memory`: the config's memory section): the
    configured mode, else the method's fixed mode, else the policy's usual one (a memory
    minibatch per step for a streaming policy, the concatenated pool otherwise)."""
    if memory.replay is not None:
        return memory.replay
    if method.fixed_replay is not None:
        return method.fixed_replay
    from retain.memory.policies import policy_class

    policy = memory.policy or getattr(method, "default_policy", "random")
    return "batch" if policy_class(policy).streaming else "concat"


def setting_of(config: Any, method: type[Method]) -> Setting:
    """The setting a run's config asks of `method`."""
    head = config.model.head
    if not method.uses_memory:
        return Setting(config.scenario.kind, config.scenario.stream, None, config.memory.replay, head)
    return Setting(config.scenario.kind, config.scenario.stream, config.memory.codec, replay_mode(config.memory, method), head)


class MethodParams(StrictSection):
    """Hyperparameters of a method; subclasses add fields, unknown keys and booleans for numbers are refused."""


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
    # How reports name a score set where the method changes what it means (IL2M's `cnn` is the
    # rectified output); a score set not named here is reported as CNN, NME or its key.
    score_labels: ClassVar[dict[str, str]] = {}
    # True when every loss term goes through `classification_loss`, so a CutMix-ed batch is
    # scored by λ·CE(y_a) + (1 − λ)·CE(y_b); methods with label-dependent terms set False.
    supports_cutmix: ClassVar[bool] = True
    # True when the scores of `predict` rank the classes, so masking them to one task's classes
    # gives its task-incremental prediction (eval.task_incremental); False refuses that setting.
    task_incremental: ClassVar[bool] = True
    # Why this method cannot train one run on several processes (distributed.nproc > 1), or None:
    # set where a step keeps per-batch state that a rank's shard cannot reproduce (docs/distributed.md).
    distributed_refusal: ClassVar[str | None] = None
    # Why this method cannot learn a blurry split (scenario.kind: blurry), or None: set where its
    # mechanics need each class to be introduced by one task.
    blurry_refusal: ClassVar[str | None] = None
    # True when the method works with a head of every class from the first task on (`model.head:
    # full`, mammoth/Avalanche style); methods whose mechanics split old from new rows set False.
    supports_full_head: ClassVar[bool] = True
    # The memory modes (`memory.replay`) the method can run; empty for a method without memory.
    replay_modes: ClassVar[tuple[str, ...]] = ()
    # The mode of a method that fixes how memory rows enter its batches (None: memory.replay or
    # the policy's usual mode), and whether it draws its per-step memory minibatch with
    # `memory.batch_size` (Rainbow Memory draws half of train.batch_size instead).
    fixed_replay: ClassVar[str | None] = None
    takes_memory_batch_size: ClassVar[bool] = True
    # Attributes that are not state: rebuilt by a hook before they are read (`current_task` by
    # `before_task`), so a checkpoint need not hold them. tests/methods/test_method_state.py checks
    # that everything else a method keeps comes back from its `state_dict`.
    transient: ClassVar[tuple[str, ...]] = ("current_task",)
    # The method's own persistent attributes (besides the network): `state_dict` saves each and
    # `load_state_dict` restores it (methods/state.py). Subclasses add their names; bases' count too.
    persist: ClassVar[tuple[str, ...]] = ()
    # Attributes holding a frozen copy of the network or None (distillation teachers): saved as
    # weights, restored as a frozen copy of the restored network given those weights.
    teachers: ClassVar[tuple[str, ...]] = ()
    # What the ledger makes of each `state_dict` entry holding tensors beyond `network` and the
    # teachers: the ledger items that charge it (`charged_state`), or why it is not charged
    # (`free_state`). An entry named in neither is charged as `undeclared state`
    # (methods/charges.py). Subclasses add theirs; bases' count too.
    charged_state: ClassVar[dict[str, tuple[str, ...]]] = {}
    free_state: ClassVar[dict[str, str]] = {}
    # True when the method's network is the configured backbone + `IncrementalNet` head and
    # nothing reads or rewrites the head's rows directly, so `model.head_norm: batchnorm` (a
    # BatchNorm over the logits, Rainbow Memory's GDumb/joint head) changes nothing else.
    supports_head_norm: ClassVar[bool] = False

    @classmethod
    def refusal(cls, setting: Setting) -> str | None:
        """Why this method cannot learn in `setting` (None: it can). Checked before anything is
        built; the method × setting table in docs/matrix.md is generated from it."""
        if setting.kind == "blurry" and cls.blurry_refusal is not None:
            return cls.blurry_refusal
        if setting.replay is not None and setting.replay not in cls.replay_modes:
            if not cls.replay_modes:
                return "it keeps no memory, so there is nothing to replay; leave memory.replay unset."
            return cls.replay_refusal(setting.replay)
        if setting.head == "full" and not cls.supports_full_head:
            return cls.full_head_refusal()
        return None

    @classmethod
    def replay_refusal(cls, mode: str) -> str:
        """Why memory.replay=`mode` is not one of this method's `replay_modes`."""
        allowed = " or ".join(f"memory.replay={m}" for m in cls.replay_modes)
        return f"it fixes how its memory rows enter the batches; use {allowed} or leave memory.replay unset."

    @classmethod
    def full_head_refusal(cls) -> str:
        """Why `model.head: full` is refused (methods with supports_full_head = False)."""
        return ("its training or prediction treats the rows of past and new classes differently, which needs a "
                "head that grows with the classes; use model.head=growing.")

    @classmethod
    def check_setting(cls, config: Any) -> None:
        """ConfigError when the run's config asks for a setting this method refuses (see `refusal`)."""
        from retain.errors import ConfigError

        setting = setting_of(config, cls)
        reason = cls.refusal(setting)
        if reason is not None:
            raise ConfigError(f"method.name={cls.name!r} does not run with {setting.describe()}: {reason}")
        if config.model.head_norm != "none" and not cls.supports_head_norm:
            allowed = ", ".join(sorted(n for n, m in method_registry().items() if m.supports_head_norm))
            raise ConfigError(
                f"model.head_norm={config.model.head_norm!r} is not supported by method.name={cls.name!r}: its network "
                f"or training reads the classifier's rows directly, and a BatchNorm over the logits would change what "
                f"they mean. Methods that take it: {allowed}. Use model.head_norm=none with this method."
            )
        nproc = config.distributed.nproc
        if nproc > 1 and cls.distributed_refusal is not None:
            raise ConfigError(f"method.name={cls.name!r} does not run with distributed.nproc={nproc} (--nproc): "
                              f"{cls.distributed_refusal} Train it on one process (distributed.nproc=1).")
        size = config.memory.batch_size
        if size is not None and setting.replay == "batch" and not cls.takes_memory_batch_size:
            raise ConfigError(
                f"memory.batch_size={size} is not used by method.name={cls.name!r}: it sizes its memory minibatch "
                "from train.batch_size (see its docs page). Remove memory.batch_size."
            )
        if size is not None and setting.replay != "batch":
            mode = "unset (the method keeps no memory)" if setting.replay is None else f"{setting.replay}"
            raise ConfigError(
                f"memory.batch_size={size} is the size of the memory minibatch drawn at every step, which only "
                f"memory.replay=batch has; for method.name={cls.name!r} memory.replay is {mode}. "
                "Set memory.replay=batch (docs/replay.md), or remove memory.batch_size."
            )

    def __init__(self, ctx: RunContext, params: MethodParams) -> None:
        self.check_setting(ctx.config)
        self.ctx = ctx
        self.params = params
        self.network: nn.Module = self.build_network().to(ctx.device)
        if ctx.settings.channels_last and ctx.dataset.image_shape[0] > 1:
            self.network = self.network.to(memory_format=torch.channels_last)
        self.current_task: TaskSpec | None = None
        if ctx.settings.cutmix and not self.supports_cutmix:
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
        grow_head_to(self.network, self.head_width(task))

    def head_width(self, task: TaskSpec) -> int:
        """Rows the head has during `task`: the classes seen so far, or every class of the run
        with `model.head: full`."""
        if self.ctx.settings.full_head:
            return self.ctx.plan.num_classes
        return len(task.seen_classes)

    def training_phases(self, task: TaskSpec) -> list[Phase]:
        """The phases of training for this task; by default the task's data for the configured epochs,
        or one pass over it under `scenario.stream: online` (a memory-free method keeps nothing to
        train on after the stream has passed)."""
        stream = torch.as_tensor(task.train_indices)
        if self.ctx.settings.online:
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
        """Everything needed to continue the run: network weights and the attributes in `persist`."""
        state = {"network": self.network.state_dict(), **save_attributes(self, declared(type(self), "persist"))}
        for name in declared(type(self), "teachers"):
            teacher = getattr(self, name)
            state[name] = None if teacher is None else teacher.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` returned."""
        self.before_restore(state)
        self.network.load_state_dict(state["network"])
        restore_attributes(self, declared(type(self), "persist"), state, self.ctx.device)
        for name in declared(type(self), "teachers"):
            teacher = None
            if state[name] is not None:
                teacher = frozen_copy(self.network)
                teacher.load_state_dict(state[name])
            setattr(self, name, teacher)
        self.after_restore()

    def before_restore(self, state: dict[str, Any]) -> None:
        """Shape the method like the one that wrote `state` before its weights and attributes are
        loaded (grow the network's branches, fix the memory's JPEG quality); reads the declared values."""

    def after_restore(self) -> None:
        """Rebuild what derives from the restored state (a snapshot of the restored parameters)."""


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


_METHODS: Registry[type[Method]] = Registry("method", "method.name")
M = TypeVar("M", bound=type[Method])


def register_method(name: str, aliases: tuple[str, ...] = ()) -> Callable[[M], M]:
    """Class decorator: make a `Method` subclass available as `method.name: name`.

    Its `Params` (a `MethodParams` model) validate the other keys of the `method` section.
    Registering another class under a taken name is an error; the same class defined again
    (its file imported a second time) replaces the first. `aliases` are former names, still
    accepted with a RetainDeprecationWarning and resolved to `name` when a config is built.
    """

    def decorate(cls: M) -> M:
        _METHODS.add(name, cls)
        for old in aliases:
            _METHODS.add_alias(old, name)
        cls.name = name
        return cls

    return decorate


def method_registry() -> dict[str, type[Method]]:
    """All registered methods by name."""
    return dict(_METHODS.items())


def get_method_class(name: str) -> type[Method]:
    """The class registered under `name` (or a former name of it, with a warning), or a
    ConfigError suggesting the closest name."""
    return _METHODS.get(name)


def canonical_method_name(name: str) -> str:
    """`name` as registered now: a former name (`er-mixed`) gives the current one (`er_mixed`), with a warning."""
    return _METHODS.canonical(name)


def method_aliases() -> dict[str, list[str]]:
    """Former method names by the current name they stand for."""
    return _METHODS.aliases()


def score_label(method_cls: type | None, score: str) -> str:
    """The name reports give a score set: the method's own (`score_labels`), else CNN (the network's
    output as `predict` returns it), NME (nearest class mean), or the key (`cnn-til` -> CNN-TIL)."""
    own = getattr(method_cls, "score_labels", {}) if method_cls is not None else {}
    if score in own:
        return own[score]
    return score.upper() if score.split("-")[0] in ("cnn", "nme") else score

