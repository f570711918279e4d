"""The plain sections of a run configuration: data, scenario, model, training, evaluation, checkpoints, logging."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from retain.config.strict import StrictSection

MAX_SEED = 2**63 - 1  # torch.manual_seed takes at most 64 bits
MAX_NUMPY_SEED = 2**32 - 1  # np.random.RandomState / default_rng seeds
MAX_COUNT = 2**31 - 1  # batch sizes and counts: index tensors and loaders take 32-bit sizes


class DataConfig(StrictSection):
    """Which dataset to load and where its files are."""

    name: str = "digits"
    dir: str | None = None
    download: bool = True
    mirror: str | None = None
    path: str | None = None  # the dataset's location, for sources that read one (hf: a save_to_disk folder)
    options: dict[str, Any] = Field(default_factory=dict)  # the source's own settings (hf: image_column, ...)


class ScenarioConfig(StrictSection):
    """How classes are split into tasks."""

    kind: Literal["class-incremental", "blurry"] = "class-incremental"
    base: int = Field(0, ge=0)
    increment: int | list[int] = 2  # classes per task after the base; a list gives each task's size
    num_tasks: int | None = Field(None, ge=1)
    order: Literal["natural", "shuffle"] | list[int] = "shuffle"
    order_seed: int = Field(1993, ge=0, le=MAX_NUMPY_SEED)
    blurry: int = Field(10, ge=0, le=100)
    stream: Literal["offline", "online"] = "offline"

    @field_validator("increment")
    @classmethod
    def _positive_increments(cls, value: int | list[int]) -> int | list[int]:
        sizes = [value] if isinstance(value, int) else value
        if not sizes or any(size < 1 for size in sizes):
            raise ValueError("must be a positive integer, or a non-empty list of positive task sizes such as [2, 3, 5]")
        return value

    @model_validator(mode="after")
    def _uneven_only_class_incremental(self) -> "ScenarioConfig":
        if isinstance(self.increment, list) and self.kind != "class-incremental":
            raise ValueError(
                f"scenario.increment = {self.increment} (a list of task sizes) needs scenario.kind = class-incremental; "
                f"{self.kind} tasks all have one size: give one number"
            )
        return self


class ModelConfig(StrictSection):
    """The backbone and its options (e.g. `hidden: [400, 400]` for the MLP)."""

    backbone: str = "mlp"
    options: dict[str, Any] = Field(default_factory=dict)
    # `growing`: the head has a row per class seen so far (PyCIL); `full`: a row per class of the
    # run from the first task on, never masked (mammoth, Avalanche). docs/replay.md.
    head: Literal["growing", "full"] = "growing"
    # Fresh head rows: PyCIL's SimpleLinear (U(±√3/√fan_in), zero bias) or torch.nn.Linear's rule
    # (U(±1/√fan_in) weights and bias; mammoth, Avalanche). retain.models.heads.HEAD_INITS.
    head_init: Literal["pycil_linear", "torch_default"] = "pycil_linear"
    # `batchnorm`: Rainbow Memory's GDumb/joint classifier, a bias-free linear layer followed by a
    # BatchNorm1d over the logits (ε = head_norm_eps); `none`: a plain linear layer with bias.
    head_norm: Literal["none", "batchnorm"] = "none"
    head_norm_eps: float = Field(1e-5, gt=0)

    @model_validator(mode="after")
    def _eps_needs_head_norm(self) -> "ModelConfig":
        if self.head_norm == "none" and "head_norm_eps" in self.model_fields_set and self.head_norm_eps != 1e-5:
            raise ValueError(f"model.head_norm_eps={self.head_norm_eps!r} is the ε of the BatchNorm over the logits, which "
                             "only model.head_norm=batchnorm has; set model.head_norm=batchnorm or remove head_norm_eps")
        return self


class TrainConfig(StrictSection):
    """Optimiser, schedule and speed options shared by every method."""

    epochs: int = Field(5, ge=0)
    first_epochs: int | None = Field(None, ge=0)
    batch_size: int = Field(64, ge=1, le=MAX_COUNT)
    lr: float = Field(0.1, gt=0)
    first_lr: float | None = Field(None, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(5e-4, ge=0)
    nesterov: bool = False
    schedule: Literal["constant", "multistep", "cosine", "warmup-cosine-restarts", "plateau"] = "constant"
    milestones: list[int] = Field(default_factory=list)
    first_milestones: list[int] | None = None
    first_weight_decay: float | None = Field(None, ge=0)
    gamma: float = Field(0.1, gt=0)
    # schedule: plateau (IL2M's ReduceLROnPlateau): lr x gamma after `patience` epochs without a
    # lower mean training loss; `first_patience` for the first task (IL2M: 10, then 5).
    patience: int = Field(5, ge=0)
    first_patience: int | None = Field(None, ge=0)
    grad_accumulation: int = Field(1, ge=1, le=MAX_COUNT)
    # How the grad_accumulation micro-batch gradients combine: mean (each loss / N: one batch of
    # N x batch_size rows) or sum (IL2M's official code: `loss.data /= iter_size` leaves the
    # gradient unscaled, so the step is N times a mean's and weight decay relatively N times weaker).
    accumulate_reduction: Literal["mean", "sum"] = "mean"
    # The epoch's last, incomplete batch (engine/short_batches.py): true drops it (PyTorch's
    # drop_last, Rainbow Memory's loaders), false keeps it, auto drops it when the network has
    # BatchNorm. A kept one never moves BatchNorm's running statistics.
    drop_last: Literal["auto"] | bool = "auto"
    # True: a fresh optimiser (no momentum) at every task; False: the optimiser state of every
    # parameter that is still there carries over to the next task (Avalanche >= 0.5).
    reset_optimizer: bool = True
    channels_last: bool | None = None  # None: on for convolutional backbones on CPU (RetainConfig resolves it)
    bf16: bool = False
    # Torch intra-op threads for the run (None: PyTorch's default). Small-batch runs (RM's batch 16)
    # gain nothing from a second thread and, on a busy machine, lose 20-50x to thread waits.
    threads: int | None = Field(None, ge=1)

    @field_validator("milestones", "first_milestones")
    @classmethod
    def _milestones_positive(cls, value: list[int] | None, info) -> list[int] | None:
        if value is not None and any(m < 1 for m in value):
            raise ValueError(f"milestones are epoch numbers counted from 1; {value} has one below 1")
        return value

    @model_validator(mode="after")
    def _nesterov_needs_momentum(self) -> "TrainConfig":
        if self.nesterov and self.momentum == 0:
            raise ValueError("train.nesterov = true needs train.momentum > 0")
        return self


class EvalConfig(StrictSection):
    """Evaluation options."""

    batch_size: int = Field(1024, ge=1, le=MAX_COUNT)
    every_epoch: bool = False  # also evaluate after every epoch; adds RM's max-over-epochs accuracy
    joint_accuracy: float | None = Field(None, ge=0, le=100)  # a joint run's last accuracy: adds intransigence
    task_incremental: bool = False  # also score with the task known (logits masked to its classes): "<score>-til"


class CheckpointConfig(StrictSection):
    """When a run saves what it needs to resume: after every task, and every N epochs inside one."""

    every_epochs: int = Field(0, ge=0)  # 0: at task boundaries only


class WandbConfig(StrictSection):
    """Weights & Biases tracking: the project, and offline (files only, `wandb sync` later) or online."""

    project: str = Field(min_length=1)
    mode: Literal["offline", "online"] = "offline"
    entity: str | None = None  # default: the user's wandb default entity


class LoggingConfig(StrictSection):
    """Live tracking (TensorBoard, optional MLflow and wandb) and the report written at the end of a run."""

    tensorboard: bool = True
    mlflow: bool = False
    mlflow_uri: str | None = None         # default: sqlite:///<parent of the run directory>/mlflow.db
    mlflow_experiment: str | None = None  # default: the preset (or dataset) name
    wandb: WandbConfig | None = None      # e.g. {project: my-project, mode: offline}; None: off
    report: bool = True
