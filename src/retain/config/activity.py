"""Which settings take effect under which others: the dependency table of the schema.

Every field of `RetainConfig` (by its dotted path) has an entry: `None` when it always takes
effect, else an `Active` rule — a predicate on the resolved config saying when the field is
read, and the words of what would make it take effect. `tests/config/test_activity.py` checks
that every field of the schema has an entry, so a new field cannot slip in without one.

`inactive_settings` lists the fields a user set (their value differs from what the preset or the
default gives) that the resolved run would never read: `scenario.order_seed` under
`order: natural`, `scenario.blurry` in a class-incremental scenario, `memory.per_class` next to
`memory.budget`. The run refuses them (severity "error"), or warns where refusing would break a
protocol written for several setups (severity "warn"). Settings that depend on the method (the
memory of a method that keeps none) are retain.runs.config's: it knows the method registry.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Any, Callable

from pydantic import BaseModel

from retain.config.schema import RetainConfig


@dataclass(frozen=True)
class Active:
    """When a field takes effect (`when(config)`), and what makes it do so (`needs`, words)."""

    when: Callable[[RetainConfig], bool]
    needs: Callable[[RetainConfig], str]
    severity: str = "error"  # "warn": said, not refused


def _rule(when: Callable[[RetainConfig], bool], needs: str, now: Callable[[RetainConfig], Any], severity: str = "error") -> Active:
    return Active(when, lambda c: f"{needs} (now {now(c)!r})", severity)


_MULTISTEP = _rule(lambda c: c.train.schedule == "multistep", "train.schedule = multistep", lambda c: c.train.schedule)
_PLATEAU = _rule(lambda c: c.train.schedule == "plateau", "train.schedule = plateau", lambda c: c.train.schedule)
_JPEG = _rule(lambda c: c.memory.codec == "jpeg", "memory.codec = jpeg", lambda c: c.memory.codec)
_FAIR_OR_AUC = _rule(lambda c: c.budget.protocol in ("fair", "auc"), "budget.protocol = fair or auc", lambda c: c.budget.protocol)
_AUC = _rule(lambda c: c.budget.protocol == "auc", "budget.protocol = auc", lambda c: c.budget.protocol)
_MLFLOW = _rule(lambda c: c.logging.mlflow, "logging.mlflow = true", lambda c: c.logging.mlflow)
_CUTMIX = _rule(lambda c: c.augment.cutmix, "augment.cutmix = true", lambda c: c.augment.cutmix)
_RESIZED_CROP = _rule(lambda c: c.augment.resized_crop, "augment.resized_crop = true", lambda c: c.augment.resized_crop)
# warn: a preset for a folder dataset sets them for whichever storage `auto` picks.
_ENCODABLE = _rule(lambda c: c.data.storage != "memory", "data.storage = auto or encoded", lambda c: c.data.storage, "warn")
# torchrun sets the world size without distributed.nproc: these are said, not refused.
_SEVERAL = _rule(lambda c: c.distributed.nproc > 1, "distributed.nproc > 1 (or torchrun)", lambda c: c.distributed.nproc, "warn")

def _later_tasks(first: str) -> Active:
    """A field read by the tasks after the first only, when its `first_` twin is set: not read with one task."""
    return _rule(lambda c: c.scenario.num_tasks != 1 or getattr(c.train, first) is None,
                 f"more than one task (scenario.num_tasks), or train.{first} unset (it takes the only task)",
                 lambda c: c.scenario.num_tasks)


def _both(a: Active, b: Active) -> Active:
    return Active(lambda c: a.when(c) and b.when(c), lambda c: a.needs(c) if not a.when(c) else b.needs(c), a.severity)


_NORMALIZE = _rule(lambda c: c.augment.normalize, "augment.normalize = true", lambda c: c.augment.normalize)

ACTIVITY: dict[str, Active | None] = {
    "preset": None, "imports": None, "seed": None, "device": None, "method": None,
    "data.name": None, "data.dir": None, "data.download": None, "data.path": None, "data.options": None,
    "data.storage": None, "data.image_size": None,
    "data.max_side": _ENCODABLE, "data.workers": _ENCODABLE,
    "data.mirror": _rule(lambda c: c.data.download, "data.download = true", lambda c: c.data.download),
    "scenario.kind": None, "scenario.num_tasks": None, "scenario.order": None,
    # One task after a base is the base alone: no task of `increment` classes follows it.
    "scenario.increment": _rule(lambda c: not (c.scenario.num_tasks == 1 and c.scenario.base > 0 and c.scenario.kind == "class-incremental"),
                                "more than one task when scenario.base > 0 (the only task is the base)", lambda c: c.scenario.num_tasks),
    "scenario.stream": None,
    "scenario.base": _rule(lambda c: c.scenario.kind == "class-incremental", "scenario.kind = class-incremental",
                           lambda c: c.scenario.kind),
    "scenario.order_seed": _rule(lambda c: c.scenario.order == "shuffle", "scenario.order = shuffle", lambda c: c.scenario.order),
    "scenario.blurry": _rule(lambda c: c.scenario.kind == "blurry", "scenario.kind = blurry", lambda c: c.scenario.kind),
    "model.backbone": None, "model.options": None, "model.head": None, "model.head_init": None, "model.head_norm": None,
    "model.head_norm_eps": _rule(lambda c: c.model.head_norm == "batchnorm", "model.head_norm = batchnorm",
                                 lambda c: c.model.head_norm),
    "train.epochs": _later_tasks("first_epochs"), "train.first_epochs": None, "train.batch_size": None,
    "train.lr": _later_tasks("first_lr"), "train.first_lr": None,
    "train.momentum": None, "train.weight_decay": _later_tasks("first_weight_decay"), "train.nesterov": None,
    "train.schedule": None,
    "train.first_weight_decay": None, "train.grad_accumulation": None,
    "train.accumulate_reduction": _rule(lambda c: c.train.grad_accumulation > 1, "train.grad_accumulation > 1",
                                        lambda c: c.train.grad_accumulation), "train.drop_last": None,
    "train.reset_optimizer": None, "train.channels_last": None, "train.bf16": None, "train.threads": None,
    "train.milestones": _both(_MULTISTEP, _later_tasks("first_milestones")), "train.first_milestones": _MULTISTEP,
    "train.gamma": _rule(lambda c: c.train.schedule in ("multistep", "plateau"), "train.schedule = multistep or plateau",
                         lambda c: c.train.schedule),
    "train.patience": _both(_PLATEAU, _later_tasks("first_patience")), "train.first_patience": _PLATEAU,
    "memory.budget": _both(_rule(lambda c: c.budget.protocol == "benchmark",
                                 "budget.protocol = benchmark (fair and auc derive the budget from budget.reference_*)",
                                 lambda c: c.budget.protocol),
                           _rule(lambda c: c.memory.per_class is None, "memory.per_class unset (it replaces a total budget)",
                                 lambda c: c.memory.per_class)),
    "memory.per_class": _rule(lambda c: c.memory.budget is None, "memory.budget unset (per_class replaces a total budget)",
                              lambda c: c.memory.budget),
    "memory.codec": None, "memory.policy": None, "memory.charge_teacher": None, "memory.charge_head": None,
    "memory.charge_columns": None, "memory.replay": None,
    "memory.quality": _JPEG, "memory.jpeg_backend": _JPEG, "memory.shared_header": _JPEG, "memory.decode_cache": _JPEG,
    "memory.batch_size": _rule(lambda c: c.memory.replay != "concat", "memory.replay = batch (or unset, for a streaming policy)",
                               lambda c: c.memory.replay),
    "augment.crop_padding": None, "augment.flip": None, "augment.brightness": None, "augment.contrast": None,
    "augment.saturation": None, "augment.cutout": None, "augment.randaugment": None, "augment.autoaugment": None,
    "augment.mean": _NORMALIZE, "augment.std": _NORMALIZE,
    "augment.resized_crop": None, "augment.resized_crop_scale": _RESIZED_CROP, "augment.resized_crop_ratio": _RESIZED_CROP,
    "augment.eval_resize": _rule(lambda c: c.data.image_size is not None, "data.image_size set", lambda c: c.data.image_size),
    "augment.normalize": None, "augment.cutmix": None, "augment.cutmix_p": _CUTMIX, "augment.cutmix_alpha": _CUTMIX,
    "eval.batch_size": None, "eval.every_epoch": None, "eval.joint_accuracy": None, "eval.task_incremental": None,
    "budget.protocol": None, "budget.reference_method": _FAIR_OR_AUC, "budget.reference_backbone": _FAIR_OR_AUC,
    "budget.reference_exemplars": _FAIR_OR_AUC, "budget.exemplars": _FAIR_OR_AUC, "budget.points": _AUC,
    "budget.point": _AUC,
    "checkpoint.every_epochs": None,
    "logging.tensorboard": None, "logging.mlflow": None, "logging.report": None, "logging.wandb": None,
    "logging.mlflow_uri": _MLFLOW, "logging.mlflow_experiment": _MLFLOW,
    "logging.wandb.project": None, "logging.wandb.mode": None, "logging.wandb.entity": None,
    "distributed.nproc": None, "distributed.backend": _SEVERAL, "distributed.sync_batchnorm": _SEVERAL,
    "distributed.timeout_s": _SEVERAL,
}

# Method parameters whose effect depends on another (looked up after ACTIVITY; a method without the
# parameter refuses it by name). warn: a MAER grid sweeps maer_policy over min/middle/max with one
# maer_middle in its base.
_AUTO_QUALITY = _rule(lambda c: c.memory.quality == "auto", "memory.quality = auto (the Rq search)", lambda c: c.memory.quality)
METHOD_ACTIVITY: dict[str, Active] = {
    "method.maer_middle": _rule(lambda c: c.method.get("maer_policy") == "middle", "method.maer_policy = middle",
                                lambda c: c.method.get("maer_policy"), "warn"),
    # MRDC's quality search: a fixed memory.quality skips it.
    **{f"method.rq_{name}": _AUTO_QUALITY for name in ("grid", "tolerance", "ridge", "gram", "select_on", "skip_below", "every_task")},
}


def _models(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models(arg)]


def schema_fields(model: type[BaseModel] = RetainConfig, prefix: str = "") -> list[str]:
    """Every field of the schema by dotted path (sections and their fields; free-form mappings are one field)."""
    paths = []
    for name, info in model.model_fields.items():
        path = prefix + name
        inner = _models(info.annotation)
        if not inner or type(None) in typing.get_args(info.annotation):  # a section that can be off is a setting too
            paths.append(path)
        for sub in inner:
            paths += schema_fields(sub, path + ".")
    return paths


def field_path(dotted: str) -> str | None:
    """The schema field a dotted key falls under (`model.options.hidden` → `model.options`), None when unknown."""
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in ACTIVITY:
            return candidate
    return None


@dataclass(frozen=True)
class Inactive:
    """A field set by the user that the run would not read (`needs`), or whose value it reads but
    that can never change the run (`why`, from the `UNREACHABLE` table)."""

    field: str
    value: Any
    needs: str
    severity: str
    why: str = ""

    def text(self) -> str:
        if self.why:
            return f"{self.field}={self.value!r} takes no effect in this run: {self.why}"
        return (f"{self.field}={self.value!r} takes no effect in this run: it is read only with {self.needs}; "
                f"remove it, or change what it depends on")


def value_at(tree: Any, dotted: str) -> Any:
    """The value at a dotted path of a plain config mapping (None when absent)."""
    node = tree
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def inactive_settings(config: RetainConfig, user_fields: set[str]) -> list[Inactive]:
    """The fields in `user_fields` (dotted schema paths the user chose) that `config` would not read."""
    dumped = config.model_dump(mode="json")
    found = []
    for path in sorted(user_fields):
        rule = ACTIVITY[path] if path in ACTIVITY else METHOD_ACTIVITY.get(path)
        value = value_at(dumped, path)
        if value is None:
            continue  # unsetting a field (null) never sets anything
        if rule is not None and not rule.when(config):
            found.append(Inactive(path, value, rule.needs(config), rule.severity))
    return found


# Values a field is read with but that can never change the run, in words (None: every value can).
# A per-epoch scheduler is stepped after every epoch, so a change made after the last one is never
# felt: MultiStepLR's milestone m lowers the lr of epochs m+1 onward (m < epochs), and
# ReduceLROnPlateau, which needs patience + 1 epochs without a new best after the first, can lower
# it before the last epoch only when patience <= epochs - 3 (both checked against torch).
def _first_epochs(c: RetainConfig) -> int:
    return c.train.first_epochs if c.train.first_epochs is not None else c.train.epochs


def _late_milestones(milestones: list[int], epochs: int, phase: str) -> str | None:
    late = [m for m in milestones if m >= epochs]
    if not late:
        return None
    return (f"milestone(s) {late} are not below the {epochs} epochs of {phase}; a milestone m lowers the lr of "
            f"epochs m+1 onward, so each must be below the epoch count")


def _milestones(c: RetainConfig) -> str | None:
    if c.train.gamma == 1:
        return "train.gamma = 1 multiplies the lr by 1 at every milestone"
    if c.train.first_milestones is None:  # they schedule every task
        return _late_milestones(c.train.milestones, max(c.train.epochs, _first_epochs(c)), "any task")
    return _late_milestones(c.train.milestones, c.train.epochs, "the tasks after the first (train.epochs)")


def _first_milestones(c: RetainConfig) -> str | None:
    if c.train.gamma == 1:
        return "train.gamma = 1 multiplies the lr by 1 at every milestone"
    return _late_milestones(c.train.first_milestones or [], _first_epochs(c), "the first task")


def _long_patience(patience: int, epochs: int, phase: str) -> str | None:
    if patience <= epochs - 3:
        return None
    return (f"with {epochs} epochs in {phase} the plateau schedule can lower the lr before the last epoch only "
            f"when patience <= epochs - 3 = {epochs - 3} (it waits patience + 1 epochs after the first without a "
            f"lower training loss)")


def _patience(c: RetainConfig) -> str | None:
    if c.train.gamma == 1:
        return "train.gamma = 1 multiplies the lr by 1 on every plateau"
    if c.train.first_patience is None:
        return _long_patience(c.train.patience, max(c.train.epochs, _first_epochs(c)), "any task")
    return _long_patience(c.train.patience, c.train.epochs, "the tasks after the first")


def _first_patience(c: RetainConfig) -> str | None:
    if c.train.gamma == 1:
        return "train.gamma = 1 multiplies the lr by 1 on every plateau"
    return _long_patience(c.train.first_patience or 0, _first_epochs(c), "the first task")


def _checkpoint_every(c: RetainConfig) -> str | None:
    longest = max(c.train.epochs, _first_epochs(c))
    if c.checkpoint.every_epochs == 0 or c.checkpoint.every_epochs < longest:
        return None
    return (f"no task has more than {longest} epochs, so no checkpoint falls inside a task (one is written at every "
            f"task boundary anyway); use a value below {longest}")


def _cutmix_never(c: RetainConfig) -> str | None:
    return "augment.cutmix_p = 0 never mixes a batch" if c.augment.cutmix and c.augment.cutmix_p == 0 else None


def _multistep_without_milestones(c: RetainConfig) -> str | None:
    if c.train.schedule == "multistep" and not c.train.milestones and not c.train.first_milestones:
        return "train.schedule = multistep without train.milestones (or first_milestones) never changes the lr; give milestones, or use constant"
    return None


UNREACHABLE: dict[str, Callable[[RetainConfig], str | None]] = {
    "train.schedule": _multistep_without_milestones,
    "train.milestones": _milestones, "train.first_milestones": _first_milestones,
    "train.patience": _patience, "train.first_patience": _first_patience,
    "checkpoint.every_epochs": _checkpoint_every, "augment.cutmix": _cutmix_never,
}
# Said even when chosen: where a mid-task checkpoint falls changes no result, and one value serves a
# sweep whose cells train for different numbers of epochs.
SAID_NOT_REFUSED = {"checkpoint.every_epochs"}


def unreachable_settings(config: RetainConfig, user_fields: set[str]) -> list[Inactive]:
    """Fields the run reads whose value can never change it. Refused when the user chose the field;
    said (severity "warn") when the value is a preset's, or a default the user's other settings made
    moot (`train.schedule=plateau` with 5 epochs and the default patience 5)."""
    dumped = config.model_dump(mode="json")
    found = []
    for path, why_not in UNREACHABLE.items():
        rule = ACTIVITY.get(path)
        if rule is not None and not rule.when(config):
            continue  # not read at all: inactive_settings speaks for it
        why = why_not(config)
        if why:
            severity = "error" if path in user_fields and path not in SAID_NOT_REFUSED else "warn"
            found.append(Inactive(path, value_at(dumped, path), "", severity, why))
    return found
