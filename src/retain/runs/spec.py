"""A run resolved once: config → `RunSpec` (geometry, task plan, budget, method, seed).

The dry run, the budget forecast (`retain run --dry-run`, `retain budget`), the AUC sweep points
and the run itself all read one `RunSpec` instead of re-deriving these from the raw config.
`resolve_run(config)` needs no data files for the built-in datasets (their geometry is a table
and the plan is made on a stand-in with every class); `resolve_run(config, dataset)` uses the
loaded dataset, which is what a run trains on.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
import torch

from retain.budget.protocols import BudgetPoint, ProtocolBudget
from retain.config import RetainConfig
from retain.data import Dataset, ImageSplit, declared_class_names
from retain.errors import ConfigError
from retain.methods import Method, MethodParams, get_method_class
from retain.runs.budgeting import auc_points, budget_table, dataset_geometry, describe_forecast, method_growth, resolve_budget
from retain.runs.config import ignored_settings, method_params
from retain.scenarios import Plan, make_plan


@dataclass
class RunSpec:
    """Everything a run is, resolved from its config before anything trains.

    `plan` is in original class ids of the loaded dataset, or of a stand-in with every class when
    resolved from the config alone (same tasks and seen classes; no images).
    """

    config: RetainConfig
    method_cls: type[Method]
    params: MethodParams
    image_shape: tuple[int, int, int]
    num_classes: int
    plan: Plan

    @property
    def seed(self) -> int:
        return self.config.seed

    @property
    def num_tasks(self) -> int:
        return len(self.plan.tasks)

    @property
    def seen_per_task(self) -> list[int]:
        """Classes seen after each task."""
        return [len(task.seen_classes) for task in self.plan.tasks]

    @property
    def growth(self) -> str:
        """How the method's stored parameters grow: "single", "specialized" (MEMO) or "backbone" (DER)."""
        return method_growth(self.config.method_name)

    @property
    def is_auc_sweep(self) -> bool:
        """budget.protocol=auc without budget.point: one run per budget point (retain.launch)."""
        return self.config.budget.protocol == "auc" and self.config.budget.point is None

    @cached_property
    def budget(self) -> ProtocolBudget | None:
        """The budget under its protocol, in bytes (None: no memory). Resolved on first use, so that
        `retain budget` can tabulate protocols whose single-run budget would be refused."""
        return resolve_budget(self.config, self.image_shape, self.num_tasks)

    @property
    def budget_bytes(self) -> int | None:
        """The ledger budget of the run (ctx.budget_bytes)."""
        return None if self.budget is None else self.budget.budget_bytes

    @property
    def exemplar_bytes(self) -> int | None:
        """The room for exemplars at every task under budget.exemplars=fixed (fair/auc), else None."""
        budget = self.budget
        return budget.fixed_room_bytes if budget is not None and budget.fixed_exemplars else None

    def forecast_text(self) -> str:
        """The budget and per-task ledger forecast printed by `retain run --dry-run` (for a method
        without memory: that it keeps none, and which memory settings it ignores)."""
        if not self.method_cls.uses_memory:
            lines = [f"budget: method {self.config.method_name} keeps no memory (no exemplars are stored)"]
            return "\n".join(lines + [f"note: {note}" for note in ignored_settings(self.config)])
        return describe_forecast(self.config, self.budget, self.seen_per_task)

    def budget_table(self) -> str:
        """Exemplar counts per kind of method under `fair` and at each `auc` point (`retain budget`)."""
        return budget_table(self.config, self.image_shape, self.num_classes, self.num_tasks)

    def auc_points(self) -> list[BudgetPoint]:
        """The budget points of `budget.points` for this dataset and number of tasks."""
        return auc_points(self.config, self.image_shape, self.num_tasks)


def resolve_run(config: RetainConfig, dataset: Dataset | None = None) -> RunSpec:
    """Resolve `config` into a RunSpec: on `dataset` when given, else from the config alone."""
    method_cls = get_method_class(config.method_name)
    params = method_params(config, method_cls)
    check_task_incremental(config, method_cls)
    check_trains_something(config)
    stand_in = dataset is None
    if dataset is None:
        image_shape, num_classes = dataset_geometry(config)
        dataset = stand_in_dataset(image_shape, num_classes, declared_class_names(config.data.name, config.data.options))
    plan = make_plan(config.scenario, dataset.train.labels.numpy(), dataset.test.labels.numpy(), dataset.num_classes)
    if not stand_in:
        check_plan_data(config, dataset, plan)
    return RunSpec(config, method_cls, params, tuple(dataset.image_shape), dataset.num_classes, plan)


def check_trains_something(config: RetainConfig) -> None:
    """Refuse a run in which a task or a rank would train on nothing: 0 epochs, or fewer rows in a
    batch than processes to share it."""
    train, nproc = config.train, config.distributed.nproc
    if train.first_epochs == 0:
        raise ConfigError(
            "train.first_epochs = 0: task 1 would train on nothing (0 epochs), and the run would report a model that "
            "never saw its first classes. Set train.first_epochs to at least 1, or leave it unset to use train.epochs."
        )
    if train.epochs == 0:
        which = "tasks 2 and later" if train.first_epochs is not None else "every task"
        raise ConfigError(
            f"train.epochs = 0: {which} would train on nothing (0 epochs); set train.epochs to at least 1."
        )
    for field, size in (("train.batch_size", train.batch_size), ("memory.batch_size", config.memory.batch_size)):
        if nproc > 1 and size is not None and size < nproc:
            raise ConfigError(
                f"{field} = {size} with distributed.nproc = {nproc}: every batch is split across the {nproc} processes, "
                f"so at least {nproc - size} of them would get no rows and train on nothing. Set {field} to at least "
                f"{nproc}, or use fewer processes (--nproc {max(1, size)})."
            )


def check_plan_data(config: RetainConfig, dataset: Dataset, plan: Plan) -> None:
    """Every class the plan trains has training rows, and every class it evaluates has test rows;
    a DatasetError names the class and the counts found."""
    from retain.errors import DatasetError

    where = f"Dataset {config.data.name!r}" + (f" in {config.data.dir!r} (data.dir)" if config.data.dir else "")
    train_counts = torch.bincount(dataset.train.labels, minlength=dataset.num_classes)
    test_counts = torch.bincount(dataset.test.labels, minlength=dataset.num_classes)
    for task in plan.tasks:
        trained = [plan.class_order[c] for c in task.new_classes]
        missing = [c for c in trained if train_counts[c] == 0]
        if missing or len(task.train_indices) == 0:
            name = dataset.class_names[missing[0]] if missing else ", ".join(dataset.class_names[c] for c in trained)
            raise DatasetError(
                f"{where}: class {name!r} has 0 training images ({len(dataset.train)} training images in all), but task "
                f"{task.index + 1} would learn it; the run would train on nothing for it. Check the training files, or "
                "choose a scenario without that class."
            )
        evaluated = [plan.class_order[c] for c in task.seen_classes]
        absent = [c for c in evaluated if test_counts[c] == 0]
        if absent:
            raise DatasetError(
                f"{where}: class {dataset.class_names[absent[0]]!r} has 0 test images ({len(dataset.test)} test images in "
                f"all, classes without any: {', '.join(repr(dataset.class_names[c]) for c in absent)}), but it is "
                f"evaluated after task {task.index + 1}; its accuracy would be left out silently. Check the test files."
            )


STAND_IN_ROWS = 4  # rows per class of the stand-in dataset


def stand_in_dataset(image_shape: tuple[int, int, int], num_classes: int, class_names: list[str] | None = None) -> Dataset:
    """An all-zero dataset with every class (STAND_IN_ROWS rows each), to plan tasks without the data
    files; its images are one zero image broadcast to every row (no memory per row: ImageNet's
    1000 classes would otherwise take 600 MB)."""
    labels = torch.arange(num_classes).repeat(STAND_IN_ROWS)
    images = torch.zeros((1, *image_shape), dtype=torch.uint8).expand(labels.numel(), *image_shape)
    split = ImageSplit(images, labels)
    channels = image_shape[0]
    names = class_names or [str(c) for c in range(num_classes)]
    return Dataset("stand-in", split, split, names, (0.0,) * channels, (1.0,) * channels)


def check_task_incremental(config: RetainConfig, method_cls: type[Method]) -> None:
    """eval.task_incremental needs tasks with their own classes and a method whose scores rank classes."""
    if not config.eval.task_incremental:
        return
    if config.scenario.kind != "class-incremental":
        raise ConfigError(
            f"eval.task_incremental = true needs disjoint tasks (scenario.kind = class-incremental); in a "
            f"{config.scenario.kind} scenario a class belongs to several tasks, so a test sample has no single "
            "task whose classes its scores could be masked to. Set eval.task_incremental = false."
        )
    if not method_cls.task_incremental:
        raise ConfigError(
            f"eval.task_incremental = true is not defined for method.name={config.method_name!r}: its scores do "
            "not rank the classes, so masking them to a task's classes gives no task-incremental prediction. "
            "Set eval.task_incremental = false."
        )
