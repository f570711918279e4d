"""One run: load data, plan tasks, drive the method through the engine, write the run directory."""

from __future__ import annotations

import contextlib
import json
import random
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from retain import metrics
from retain.augment import Augmenter
from retain.augment.fit import check_augment_fits
from retain.console import LOGGER, Reporter
from retain.data import Dataset, ImageSplit
from retain.engine import collectives, observers
from retain.engine.context import RunContext
from retain.engine.device import resolve_device  # noqa: F401  (also imported from here)
from retain.engine.evaluator import evaluate, evaluating_each_epoch
from retain.engine.trainer import TrainingDiverged, TrainProgress, TrainResume, TrainStats, train_task
from retain.errors import CheckpointError, DatasetError, DatasetNotFound, MethodError, RetainError, storage_error
from retain.memory.ledger import Ledger
from retain.methods import Method
from retain.methods.base import score_label
from retain.methods.charges import charged_items
from retain.runs.checkpoint import Checkpointer, ResumePoint, RunProgress, check_same_config, restore_rng
from retain.runs.config import RetainConfig, config_to_dict, ignored_settings, read_yaml, validate_config
from retain.runs.directory import RunDirLock, check_new_run_dir, check_same_nproc, remove_stale_temporaries
from retain.runs.results import read_config_sources, read_run_results, versions, write_config_yaml, write_json
from retain.runs.results_config import check_results_config  # noqa: F401  (also imported from here)
from retain.runs.spec import RunSpec, resolve_run
from retain.runs.time_forecast import StepProbe, dry_run_time_text
from retain.runs.user_data import load_user_dataset
from retain.scenarios import Plan, TaskSpec
from retain.tracking import Tracker, check_backends


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (parameter initialisation)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def remap_dataset(dataset: Dataset, plan: Plan) -> Dataset:
    """The dataset with labels in the plan's class order and class names to match."""
    return Dataset(
        name=dataset.name,
        train=ImageSplit(dataset.train.images, torch.as_tensor(plan.remap(dataset.train.labels))),
        test=ImageSplit(dataset.test.images, torch.as_tensor(plan.remap(dataset.test.labels))),
        class_names=[dataset.class_names[c] for c in plan.class_order],
        mean=dataset.mean,
        std=dataset.std,
        notes=list(dataset.notes),
    )


def default_run_dir(config: RetainConfig) -> Path:
    name = config.preset or f"{config.data.name}"
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{name}-{config.method_name}-seed{config.seed}-{stamp}"


def check_run_dir(run_dir: Path) -> None:
    """Refuse an --out that cannot become a new run directory (nothing written is ever lost)."""
    check_new_run_dir(run_dir)


@dataclass
class Setup:
    """Everything built before training starts."""

    config: RetainConfig
    dataset: Dataset
    plan: Plan
    ctx: RunContext
    method: Method
    spec: RunSpec
    stand_in: str | None = None  # a dry run without the files: why they were not read (the plan uses the registered geometry)


def build_setup(config: RetainConfig, reporter: Reporter | None = None, dry_run: bool = False) -> Setup:
    """Load data, resolve the run on it (plan, budget, method), build the context and the method, check feasibility.

    A dry run reads the files only when they are on this machine (it never downloads) and the
    dataset is not too large to preview; else it plans on a stand-in with the registered geometry."""
    seed_everything(config.seed)
    if config.train.threads is not None:
        torch.set_num_threads(config.train.threads)
    group = collectives.current()
    device = resolve_device(config.device) if group is None else collectives.rank_device(config.device)
    if dry_run:
        raw, stand_in = dry_run_dataset(config)
    else:
        raw, stand_in = load_user_dataset(config.data, eval_resize=config.augment.eval_resize), None
    for note in raw.notes:  # e.g. data.storage: how the images are held, and why
        (reporter.log if reporter else LOGGER.info)(note)
    check_normalisable(config, raw)
    check_augment_fits(config.augment, raw.image_shape, config.data.name)
    spec = resolve_run(config, raw)
    plan = spec.plan
    dataset = remap_dataset(raw, plan)
    if stand_in is None:  # the stand-in's rows are one broadcast image: kept where it is
        dataset = dataset.to(device)
    augmenter = Augmenter(config.augment, dataset.mean, dataset.std, device=device, seed=config.seed,
                          side=config.data.image_size)
    augmenter.check_shape(dataset.image_shape)
    generator = torch.Generator().manual_seed(config.seed)
    ctx = RunContext(
        config=config, dataset=dataset, plan=plan, device=device, augmenter=augmenter,
        generator=generator, budget_bytes=spec.budget_bytes, log=(reporter.log if reporter else LOGGER.info), dist=group,
        exemplar_bytes=spec.exemplar_bytes,
    )
    method = spec.method_cls(ctx, spec.params)
    method.check_setup()
    if group is not None:
        prepare_method(method, config, device)
    return Setup(config, dataset, plan, ctx, method, spec, stand_in)


def dry_run_dataset(config: RetainConfig) -> tuple[Dataset, str | None]:
    """The dataset a dry run plans on, and why it is a stand-in (None: the files were read).

    A dataset registered with its geometry is not read when it says a preview should not read
    it (ImageNet), nor when data.dir is unset and its files are not on this machine (a dry run
    does not download). A data.dir that is given is read (or refused) as a run would."""
    from retain.data import dataset_entry, declared_class_names
    from retain.data.registry import checked_data_dir
    from retain.runs.spec import stand_in_dataset

    entry = dataset_entry(config.data.name)
    declared = entry.image_shape is not None and entry.num_classes is not None
    if declared and not entry.dry_run_loads:
        checked_data_dir(entry.name, config.data.dir)  # a folder named but absent is refused, as a run would
        reason = f"a dry run does not read the {entry.name!r} files (decoding them takes long)"
    elif config.data.dir is not None or not declared:  # the data the user named: read, or refused
        return load_user_dataset(config.data, eval_resize=config.augment.eval_resize), None
    else:
        try:
            return load_user_dataset(config.data.model_copy(update={"download": False}),
                                           eval_resize=config.augment.eval_resize), None
        except DatasetNotFound as error:
            looked = str(error).split(". Expected layout")[0]  # where it looked; `retain run` says how to get the files
            reason = f"its files are not on this machine and a dry run does not download them ({looked})"
    names = declared_class_names(config.data.name, config.data.options)
    shape, classes = entry.image_shape, len(names) if names is not None else entry.num_classes
    return stand_in_dataset(shape, classes, names), reason


def check_normalisable(config: RetainConfig, dataset: Dataset) -> None:
    """Normalisation divides by each channel's std: a channel that is the same in every training
    image (std 0) is refused, naming the dataset and the fix."""
    if config.augment.normalize and any(s <= 0 for s in dataset.std):
        flat = [c for c, s in enumerate(dataset.std) if s <= 0]
        where = f" in {config.data.dir!r} (data.dir)" if config.data.dir else ""
        raise DatasetError(
            f"Dataset {config.data.name!r}{where}: channel(s) {flat} have the same value in every training image "
            f"(std {tuple(round(s, 4) for s in dataset.std)}), so normalising by the std would divide by zero. "
            "Check the images, or set augment.normalize=false to train on unnormalised pixels."
        )


def _matrix_row(per_task: list[float], num_tasks: int) -> list[float]:
    return per_task + [float("nan")] * (num_tasks - len(per_task))


ReportWriter = Callable[..., Path]
"""`write(run_dir, figures=bool) -> report path`: the end-of-run report (`retain.reports.report.write_report`).
The caller gives it (retain.launch does), because reports/ reads run directories and so sits above runs/;
a run given none writes no report, as under `logging.report: false`."""


def run(config: RetainConfig, out: str | Path | None = None, dry_run: bool = False, reporter: Reporter | None = None,
        probe: StepProbe | None = None, report_writer: ReportWriter | None = None) -> dict[str, Any]:
    """Run the experiment described by `config` and write its run directory; return the results.

    A dry run prints the budget forecast, the plan and a forecast of the training time on this
    device (`probe` says how the step is measured; `StepProbe(steps=0)` skips it) and writes nothing.
    `report_writer` writes the end-of-run report when `logging.report` asks for one (without one, a
    warning says none was written: `retain.launch.launch` gives it).
    One run: under budget.protocol=auc without budget.point, `retain.launch` runs the
    AUC sweep instead (this refuses it with a ConfigError). Everything that can be checked is
    checked before the first file is written; the run directory is locked while it is written.
    """
    reporter = reporter or Reporter(quiet=True)
    group = collectives.current()
    run_dir = Path(out) if out else default_run_dir(config)
    if group is not None:
        run_dir = Path(group.broadcast_object(str(run_dir)))  # rank 0's default name (its clock) on every rank
        group.run_dir = str(run_dir)
    writer = group is None or group.is_writer
    with _agreed(group):  # a check failing on one rank stops every rank
        if not dry_run:
            if writer:
                check_run_dir(run_dir)
            check_backends(config)
        elif writer:
            # Printed before the data is loaded: the forecast needs only the config (built-in datasets).
            reporter.out.print(resolve_run(config).forecast_text(), markup=False, highlight=False, soft_wrap=True)
        setup = build_setup(config, reporter, dry_run=dry_run)
    if not dry_run and writer:  # once the config, data and budget are accepted: a refused run names no directory
        reporter.log(f"run directory: {run_dir}")
    plan, ctx = setup.plan, setup.ctx
    if dry_run:
        if writer:
            _print_dry_run(setup, reporter, probe or StepProbe())
        return {"plan": plan.to_dict(), "dry_run": True, "stand_in": setup.stand_in}
    for note in ignored_settings(config) if writer else ():  # said once, by rank 0
        reporter.note(note)
    if not writer:  # rank 0 alone writes the run directory
        return _learn_tasks(config, setup, run_dir, reporter, ResumePoint(task=None, epoch=None), report_writer)
    with RunDirLock(run_dir):
        check_run_dir(run_dir)  # again under the lock: another process may have started it meanwhile
        remove_stale_temporaries(run_dir)
        write_config_yaml(run_dir / "config.yaml", config_to_dict(config), config._sources)
        # The config the run starts with rides in plan.json: before the first task's results exist,
        # it is what tells a hand-edited config.yaml from the run's own (check_started_config).
        write_json(run_dir / "plan.json", {**plan.to_dict(), STARTED_WITH: config_to_dict(config)})
        observers.moment("start-up")
        LOGGER.debug(f"augmentation (train): {ctx.augmenter.describe()}")  # -v
        return _learn_tasks(config, setup, run_dir, reporter, ResumePoint(task=None, epoch=None), report_writer)


def _print_dry_run(setup: Setup, reporter: Reporter, probe: StepProbe) -> None:
    """The plan, why the files were not read (a stand-in), the time forecast and the config's notes."""
    # setup.dataset is remapped (its names in plan order); describe takes names by original id
    plan = setup.plan
    by_original = dict(zip(plan.class_order, setup.dataset.class_names))
    names = [by_original.get(c, str(c)) for c in range(max(plan.class_order) + 1)]
    reporter.out.print(plan.describe(names), markup=False, highlight=False)
    if setup.stand_in is not None:
        reporter.out.print(f"note: planned on the registered geometry, not on the files: {setup.stand_in}; #train and "
                           "#test above count a stand-in's rows, not images", markup=False, highlight=False, soft_wrap=True)
    reporter.out.print(dry_run_time_text(setup.spec, probe, setup.stand_in is not None), markup=False, highlight=False,
                       soft_wrap=True)
    for note in setup.config._notes:  # settings without effect that are said, not refused (shown with -q too)
        reporter.warn(note)


def _charge(progress: RunProgress, task: int, method: Method, ctx: RunContext, charge_teacher: bool) -> None:
    """Record what the method keeps after this task; a memory-free method that keeps something
    (a charged teacher, a plugin's undeclared state) gets a ledger then. BudgetError when over."""
    if ctx.budget_bytes is None:
        return
    items = charged_items(method, charge_teacher)
    if progress.ledger is None and any(items.values()):
        progress.ledger = Ledger()
    if progress.ledger is not None:
        progress.ledger.record(task, items, ctx.budget_bytes, method.exemplars_per_class())


def _figures(config: RetainConfig) -> bool:
    """The end-of-run report draws figures only for a tracker that uploads them (MLflow, wandb);
    otherwise it writes tables (matplotlib costs seconds) and `retain report` draws them."""
    return bool(config.logging.mlflow or config.logging.wandb is not None)


@contextlib.contextmanager
def _agreed(group: collectives.Group | None):
    """Run checks on every rank; when one rank's check fails, every rank raises (no rank is left
    waiting in a collective for a peer that stopped)."""
    if group is None:
        yield
        return
    try:
        yield
    except RetainError as exc:
        group.first_error(exc)
        raise
    group.first_error(None)


def prepare_method(method: Method, config: RetainConfig, device: torch.device) -> None:
    """Distributed: SyncBatchNorm when asked (CUDA only), and one starting state on every rank."""
    if config.distributed.sync_batchnorm:
        collectives.check_sync_batchnorm(True, config.device, device)
        torch.nn.SyncBatchNorm.convert_sync_batchnorm(method.network)


def resume_run(run_dir: str | Path, config: RetainConfig | None = None, reporter: Reporter | None = None,
               report_writer: ReportWriter | None = None) -> dict[str, Any]:
    """Continue the run in `run_dir` from its last good checkpoint (from the start when it has none yet).

    `config`, when given, must equal the run's config.yaml. Checkpoints are verified (SHA-256) and
    read before anything is written, so a refused resume leaves the directory as it was; a
    complete run only gets its missing report back.
    """
    reporter = reporter or Reporter(quiet=True)
    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise CheckpointError(
            f"--resume {str(run_dir)!r} is not a run directory (it has no config.yaml); pass the --out "
            "directory of the run to continue."
        )
    reporter.log(f"run directory: {run_dir} (resume)")
    group = collectives.current()
    writer = group is None or group.is_writer
    if group is not None:
        group.run_dir = str(run_dir)
    with RunDirLock(run_dir) if writer else contextlib.nullcontext():
        saved, config, changed = _resumed_config(run_dir, config)
        previous = read_run_results(run_dir)
        check_results_config(run_dir, saved, previous)
        check_started_config(run_dir, saved)
        if previous is not None and previous.get("complete"):
            return _finished_run(run_dir, config, previous, reporter, report_writer) if writer else previous
        checkpointer = Checkpointer(run_dir, config_to_dict(config), config.checkpoint.every_epochs)
        with _agreed(group):
            point = checkpointer.load()
            setup = build_setup(config, reporter)
            check_saved_plan(run_dir, setup.plan)
        if writer:
            _prepare_resume(run_dir, config, changed, point, checkpointer, reporter)
        done = point.progress.completed_tasks
        where = f"inside task {done + 1} (epoch checkpoint)" if point.epoch else f"after task {done}"
        reporter.log(f"resuming {run_dir} {where}")
        return _learn_tasks(config, setup, run_dir, reporter, point, report_writer)


def _resumed_config(run_dir: Path, config: RetainConfig | None) -> tuple[RetainConfig, RetainConfig, list[str]]:
    """(the saved config, the config the run goes on with, the changes): `config` when it differs
    from config.yaml only in settings that cannot change the results, else the saved one."""
    saved = validate_config(read_yaml(run_dir / "config.yaml"))
    saved._sources = read_config_sources(run_dir / "config.yaml")
    changed = []
    if config is not None:
        changed = check_same_config(config_to_dict(saved), config_to_dict(config), "The configuration given with --resume", run_dir)
    if changed:
        config._sources = {**saved._sources, **{change.split(":", 1)[0]: "--resume (changed)" for change in changed}}
    config = config if changed else saved
    check_backends(config)
    _check_same_nproc(saved, run_dir)
    return saved, config, changed


def _can_report(report_writer: ReportWriter | None, run_dir: Path) -> bool:
    """Whether the end-of-run report can be written; when it cannot, say so instead of skipping it unseen."""
    if report_writer is None:
        LOGGER.warning(f"logging.report is on, but this run was started without a report writer (retain.runs.loop "
                       f"directly), so {run_dir} gets no report.md; write it with: retain report {run_dir} "
                       f"(retain.launch.launch, `retain run` and `retain.run` write it themselves)")
    return report_writer is not None


def _finished_run(run_dir: Path, config: RetainConfig, previous: dict[str, Any], reporter: Reporter,
                  report_writer: ReportWriter | None) -> dict[str, Any]:
    """A complete run: its results, with the report written again when it is missing."""
    remove_stale_temporaries(run_dir)
    if config.logging.report and not (run_dir / "report.md").is_file() and _can_report(report_writer, run_dir):
        previous["report"] = str(_storage_guard(lambda: report_writer(run_dir, figures=_figures(config)), run_dir))
        reporter.log(f"{run_dir} is complete; its missing report was written again.")
    else:
        reporter.log(f"{run_dir} is already complete; nothing to resume.")
    return previous


def _prepare_resume(run_dir: Path, config: RetainConfig, changed: list[str], point: ResumePoint,
                    checkpointer: Checkpointer, reporter: Reporter) -> None:
    """Rank 0, before training again: config.yaml with the changed settings, the checkpoint's
    notes said, temporaries and orphan digests of the killed run removed."""
    if changed:  # settings that cannot change the results: the run goes on with the new ones
        write_config_yaml(run_dir / "config.yaml", config_to_dict(config), config._sources)
        reporter.log(f"resuming with changed settings: {'; '.join(changed)}")
    for note in point.notes:
        reporter.warn(note)
    remove_stale_temporaries(run_dir)
    checkpointer.remove_orphan_digests()


STARTED_WITH = "started_with"  # plan.json's key for the config the run started with


def _read_plan_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text()) if path.is_file() else None
    except (json.JSONDecodeError, UnicodeDecodeError):
        return "unreadable"


def check_started_config(run_dir: Path, saved: RetainConfig) -> None:
    """config.yaml must still hold the settings the run started with (plan.json keeps them): before
    a task has finished nothing else records them, and a resume would silently train another run."""
    from retain.runs.checkpoint import config_differences, with_resolved_method

    recorded = _read_plan_json(run_dir / "plan.json")
    started = recorded.get(STARTED_WITH) if isinstance(recorded, dict) else None
    if not isinstance(started, dict):
        return  # a run started by an older retain, or plan.json unreadable (check_saved_plan refuses that)
    differences = config_differences(with_resolved_method(started), config_to_dict(saved), neutral=False)
    if differences:
        raise CheckpointError(
            f"{str(run_dir / 'config.yaml')!r} was edited since the run started ({'; '.join(differences[:4])}, the "
            f"started value first; plan.json keeps the settings the run started with). A resume continues the run it "
            f"started; restore config.yaml, or start the changed run in another --out. Nothing was changed."
        )


def check_saved_plan(run_dir: Path, plan: Plan) -> None:
    """The run's plan.json must be the plan the run trains on (a hand edit is refused, not trusted or overwritten)."""
    path = run_dir / "plan.json"
    saved = _read_plan_json(path)
    if saved is None:
        return  # a run stopped before writing it: the plan is written again
    if isinstance(saved, dict):
        saved = {key: value for key, value in saved.items() if key != STARTED_WITH}
    if saved != plan.to_dict():
        raise CheckpointError(
            f"{str(path)!r} does not hold the task plan this run trains on (edited by hand, or the dataset changed); "
            f"resuming would report tasks other than the ones it names. Restore the file (the plan comes from config.yaml "
            f"and the data), or start a new run in another --out. Nothing was changed."
        )


def _check_same_nproc(saved: RetainConfig, run_dir: Path) -> None:
    """This process's group (or none) has as many ranks as the saved run started with."""
    group = collectives.current()
    check_same_nproc(run_dir, saved.distributed.nproc, group.world_size if group is not None else 1)


def _storage_guard(write, run_dir: Path):
    """Call `write()`; a full disk or an unwritable file becomes a StorageError saying how to resume."""
    try:
        return write()
    except OSError as exc:
        raise storage_error(exc, f"write the run directory {str(run_dir)!r}",
                            f"Nothing written before is lost; free space (or fix the folder), then continue with: "
                            f"retain run --resume {run_dir}") from None


def _learn_tasks(config: RetainConfig, setup: Setup, run_dir: Path, reporter: Reporter, point: ResumePoint,
                 report_writer: ReportWriter | None) -> dict[str, Any]:
    """Drive the method through the remaining tasks, checkpointing and logging as configured; a full
    disk or an unwritable file stops the run with a StorageError giving the resume command."""
    return _storage_guard(lambda: _learn_remaining_tasks(config, setup, run_dir, reporter, point, report_writer), run_dir)


@dataclass
class _TaskLoop:
    """What every task of one run's loop shares: where it writes, what it tells, how far it is."""

    config: RetainConfig
    setup: Setup
    run_dir: Path
    reporter: Reporter
    tracker: Any  # Tracker, or _SilentTracker on ranks that do not write
    checkpointer: Checkpointer
    progress: RunProgress
    writer: bool
    elapsed_before: float
    started: float
    report_writer: ReportWriter | None

    @property
    def num_tasks(self) -> int:
        return len(self.setup.plan.tasks)


def _learn_remaining_tasks(config: RetainConfig, setup: Setup, run_dir: Path, reporter: Reporter, point: ResumePoint,
                           report_writer: ReportWriter | None) -> dict[str, Any]:
    method, ctx, progress = setup.method, setup.ctx, point.progress
    _restore_point(run_dir, method, ctx, point)
    train_resume = Checkpointer.train_resume(point, method, ctx)
    loop = _start_loop(config, setup, run_dir, reporter, progress, report_writer)
    finished = False
    try:
        with loop.reporter:
            loop.reporter.start_run(loop.num_tasks, progress.completed_tasks)
            for task in setup.plan.tasks[progress.completed_tasks :]:
                _learn_task(loop, task, train_resume)
                train_resume = None
        finished = True
    except KeyboardInterrupt:
        LOGGER.warning(f"interrupted; continue with: retain run --resume {run_dir}")
        raise
    except Exception as exc:
        explained = _explained(exc, method, run_dir, progress.completed_tasks, loop.num_tasks)
        if explained is None:
            raise
        raise explained from None
    finally:
        if not finished:
            loop.tracker.close(False)
    return _finish_run(loop)


def _restore_point(run_dir: Path, method: Method, ctx: RunContext, point: ResumePoint) -> None:
    """A resumed run: the method and every RNG as the task checkpoint saved them, the resume noted;
    a memory method gets its ledger."""
    progress = point.progress
    if point.task is not None:
        with _checkpoint_state(run_dir):
            method.load_state_dict(point.task["method"])
            restore_rng(ctx, point.task["rng"])
    if point.task is not None or point.epoch is not None:
        progress.resumes.append({"completed_tasks": progress.completed_tasks,
                                 "epoch_checkpoint": point.epoch is not None})
    if progress.ledger is None and ctx.budget_bytes is not None and method.uses_memory:
        progress.ledger = Ledger()  # a memory-free method gets one at its first charged item (methods/charges.py)


def _start_loop(config: RetainConfig, setup: Setup, run_dir: Path, reporter: Reporter, progress: RunProgress,
                report_writer: ReportWriter | None) -> _TaskLoop:
    """The checkpointer and the tracker of the loop; rank 0 alone writes curves, results and checkpoints."""
    group = setup.ctx.dist
    writer = group is None or group.is_writer
    checkpointer = Checkpointer(run_dir, config_to_dict(config), config.checkpoint.every_epochs)
    if writer:
        tracker = Tracker(run_dir, config, resume_epoch=progress.global_epoch, resume_task=progress.completed_tasks)
    else:
        tracker, reporter = _SilentTracker(), Reporter(quiet=True)
    return _TaskLoop(config, setup, run_dir, reporter, tracker, checkpointer, progress, writer,
                     progress.elapsed_seconds, time.perf_counter(), report_writer)


def _learn_task(loop: _TaskLoop, task: TaskSpec, train_resume: TrainResume | None) -> None:
    """One task: before_task, training, after_task, evaluation; then its results recorded, written and checkpointed."""
    method, ctx, progress, group = loop.setup.method, loop.setup.ctx, loop.progress, loop.setup.ctx.dist
    loop.reporter.start_task(task.index, loop.num_tasks, ctx.epochs_for(task))
    t0 = time.perf_counter()
    observers.task_started(task.index + 1)
    method.before_task(task)
    if group is not None and train_resume is None:
        group.synchronise(method, task.index, "before_task")
    if train_resume is None:
        progress.epoch_scores = []
    stats = _train(loop, task, train_resume)
    t1 = time.perf_counter()
    method.after_task(task)
    if group is not None:
        group.synchronise(method, task.index, "after_task")
    observers.moment("memory-update")
    t2 = time.perf_counter()
    evaluation = evaluate(method, task, ctx)
    observers.moment("evaluation")
    _record_task(loop, task, evaluation, stats, before_and_train=t1 - t0, after_task=t2 - t1)
    progress.completed_tasks = task.index + 1
    progress.elapsed_seconds = loop.elapsed_before + time.perf_counter() - loop.started
    results = _write_results(loop.config, loop.setup, method, progress, loop.run_dir)
    if loop.writer:
        loop.checkpointer.save_task(method, ctx, progress)
    loop.tracker.task(results)
    loop.reporter.end_task(task.index, loop.num_tasks, results["stage_accuracy"][-1])


def _train(loop: _TaskLoop, task: TaskSpec, train_resume: TrainResume | None) -> TrainStats:
    """The task's training, with the per-epoch callbacks: progress and curves, every-epoch evaluation, epoch checkpoints."""
    method, ctx, progress = loop.setup.method, loop.setup.ctx, loop.progress
    hook = _ProgressHook(loop.reporter)
    on_epoch = _epoch_callback(progress, loop.reporter, loop.tracker, task, hook)
    if loop.config.eval.every_epoch:
        on_epoch = evaluating_each_epoch(on_epoch, method, task, ctx, progress.epoch_scores)
    after_epoch = loop.checkpointer.epoch_hook(method, ctx, progress) if loop.writer else None
    return train_task(method, task, ctx, on_epoch=on_epoch, after_epoch=after_epoch, resume=train_resume, progress=hook)


def _record_task(loop: _TaskLoop, task: TaskSpec, evaluation: Any, stats: TrainStats, before_and_train: float,
                 after_task: float) -> None:
    """The results recorder: the task's charges, accuracy rows, timings and best epoch, into the run's progress."""
    config, method, progress = loop.config, loop.setup.method, loop.progress
    _charge(progress, task.index, method, loop.setup.ctx, config.memory.charge_teacher)
    for name, acc in evaluation.scores.items():
        entry = progress.accuracy.setdefault(name, {"matrix": [], "stage": [], "stage_top5": []})
        entry["matrix"].append(_matrix_row(acc.per_task, loop.num_tasks))
        entry["stage"].append(acc.top1)
        entry["stage_top5"].append(acc.top5)
    progress.timings.append({
        "task": task.index,
        "before_and_train_seconds": before_and_train,
        "train_seconds": stats.seconds,
        "after_task_seconds": after_task,
        "eval_seconds": evaluation.seconds,
        "train_images": stats.images,
        "train_images_per_second": stats.images_per_second,
    })
    if config.eval.every_epoch:
        final = evaluation.scores.get(method.primary_score, evaluation.scores["cnn"]).top1
        progress.best_epoch_stage.append(max([*progress.epoch_scores, final]))


def _explained(exc: Exception, method: Method, run_dir: Path, done: int, num_tasks: int) -> Exception | None:
    """The error a failure inside the task loop is reported as, saying what is kept and how to go on
    (None: raise it as it is)."""
    if isinstance(exc, TrainingDiverged):
        kept = (f"{run_dir} keeps the results and checkpoints of tasks 1..{done}" if done
                else f"no task finished, so {run_dir} holds no checkpoint")
        text = str(exc).replace("; the last good checkpoint is kept.", ".")
        return TrainingDiverged(f"{text} {kept}; resuming repeats the same computation, so change the settings "
                                "and start in a new --out.")
    if isinstance(exc, MethodError):  # e.g. predict returned the wrong shape
        return MethodError(f"{exc} {_kept_text(run_dir, done)}. Fix the method, then continue with: "
                           f"retain run --resume {run_dir}")
    if isinstance(exc, RetainError):
        return None
    return _method_failure(exc, method, run_dir, done, num_tasks)  # a user's method (a plugin) raising: one paragraph


def _finish_run(loop: _TaskLoop) -> dict[str, Any]:
    """results.json (also when a resume had nothing left to train), the report, the tracker's summary; the final table."""
    try:
        results = _write_results(loop.config, loop.setup, loop.setup.method, loop.progress, loop.run_dir)
        if loop.config.logging.report and loop.writer and _can_report(loop.report_writer, loop.run_dir):
            try:
                results["report"] = str(loop.report_writer(loop.run_dir, figures=_figures(loop.config)))
            except KeyboardInterrupt:  # the results are complete; a resume writes the missing report
                LOGGER.warning(f"interrupted while writing the report; write it with: retain run --resume {loop.run_dir}")
                raise
        loop.tracker.finish(results)  # summary metrics, hyper-parameters, the run's files
    finally:
        loop.tracker.close(True)
    if not loop.reporter.quiet:
        loop.reporter.final_table(results)
    return results


def _kept_text(run_dir: Path, done: int) -> str:
    return (f"{'Task 1' if done == 1 else f'Tasks 1..{done}'} finished and {'is' if done == 1 else 'are'} kept in {run_dir} (results.json, checkpoints)" if done
            else f"No task had finished; {run_dir} keeps its config")


def _method_failure(exc: Exception, method: Method, run_dir: Path, done: int, num_tasks: int) -> MethodError | None:
    """The MethodError for an exception raised in the user's own code, None when none of its frames are."""
    from retain.plugins import user_code_failure

    text = user_code_failure(exc, f"Method {method.name!r}", f"while learning task {done + 1} of {num_tasks}",
                             f"{_kept_text(run_dir, done)}. Fix the plugin, then continue with: retain run --resume {run_dir}")
    return None if text is None else MethodError(text)


@contextlib.contextmanager
def _checkpoint_state(run_dir: Path):
    """A checkpoint that passed its digest and config checks but whose state the method cannot take
    (written by other code) is a CheckpointError, not a traceback."""
    try:
        yield
    except (AttributeError, KeyError, IndexError, TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(
            f"The checkpoint of {str(run_dir)!r} holds a state this method cannot load ({type(exc).__name__}: "
            f"{(str(exc).strip().splitlines() or [''])[0][:200]}); it was written by other code. "
            "Start the run again in a new --out."
        ) from None


class _ProgressHook(TrainProgress):
    """The trainer's progress hook: epochs and steps go to the console (steps are counted on the
    host), the epoch's loss terms to the tracker with the next `on_epoch`."""

    def __init__(self, reporter: Reporter) -> None:
        self.reporter = reporter
        self.terms: dict[str, float] = {}

    def epoch_started(self, phase: str, epoch: int, epochs: int, steps: int | None) -> None:
        self.reporter.start_epoch(phase, epoch, epochs, steps)

    def step(self) -> None:
        self.reporter.step()

    def loss_terms(self, terms: dict[str, float]) -> None:
        self.terms = terms


def _epoch_callback(progress: RunProgress, reporter: Reporter, tracker: Tracker, task: TaskSpec, hook: _ProgressHook):
    """The trainer's per-epoch callback: count the run's epochs, show progress, log curves."""

    def on_epoch(phase: str, epoch: int, epochs: int, loss: float, lr: float) -> None:
        observers.epoch_ended()
        progress.global_epoch += 1
        reporter.epoch(phase, epoch, epochs, loss, lr)
        terms, hook.terms = hook.terms, {}
        tracker.epoch(progress.global_epoch, task.index, phase, loss, lr, terms)

    return on_epoch


def _write_results(config: RetainConfig, setup: Setup, method: Method, progress: RunProgress, run_dir: Path) -> dict[str, Any]:
    """Assemble results.json from the progress so far and write it atomically."""
    results = _assemble(config, setup, method, progress.accuracy, progress.ledger, progress.timings, progress.elapsed_seconds, run_dir)
    _add_optional_metrics(results, config, progress.best_epoch_stage)
    results["completed_tasks"] = progress.completed_tasks
    results["complete"] = progress.completed_tasks == len(setup.plan.tasks)
    results["timings"]["checkpoint_seconds"] = progress.checkpoint_seconds
    results["resumes"] = progress.resumes
    group = setup.ctx.dist
    if group is not None:
        results["distributed"] = group.summary()
    if group is None or group.is_writer:
        write_json(run_dir / "results.json", results)
    return results


class _SilentTracker:
    """The tracker of a rank other than 0: logs nothing."""

    def epoch(self, *args: Any) -> None:
        pass

    def task(self, results: dict[str, Any]) -> None:
        pass

    def finish(self, results: dict[str, Any]) -> None:
        pass

    def close(self, finished: bool) -> None:
        pass


def _add_optional_metrics(results: dict[str, Any], config: RetainConfig, best_epoch_stage: list[float]) -> None:
    """RM's reporting extras: the max-over-epochs accuracy (never the default) and intransigence."""
    if best_epoch_stage:
        results["stage_accuracy_best_epoch"] = list(best_epoch_stage)
        results["metrics"]["last_accuracy_best_epoch"] = best_epoch_stage[-1]
    if config.eval.joint_accuracy is not None:
        last = results["metrics"]["last_accuracy"]
        results["metrics"]["intransigence"] = metrics.intransigence(config.eval.joint_accuracy, last)


def _summarize(entry: dict[str, list]) -> dict[str, float]:
    """Metrics of the tasks completed so far (the square part of the accuracy matrix)."""
    done = len(entry["stage"])
    return metrics.summarize([row[:done] for row in entry["matrix"][:done]], entry["stage"])


def _assemble(config, setup: Setup, method: Method, accuracy, ledger, timings, total_seconds: float, run_dir: Path) -> dict[str, Any]:
    primary = method.primary_score if method.primary_score in accuracy else "cnn"
    main = accuracy[primary]
    total_images = sum(t["train_images"] for t in timings)
    total_train = sum(t["train_seconds"] for t in timings)
    results: dict[str, Any] = {
        "method": config.method_name,
        "dataset": config.data.name,
        "preset": config.preset,
        "seed": config.seed,
        "run_dir": str(run_dir),
        "primary_score": primary,
        "primary_score_label": score_label(type(method), primary),
        "task_classes": setup.plan.task_classes,
        "seen_classes": [len(t.seen_classes) for t in setup.plan.tasks[: len(main["stage"])]],
        "accuracy_matrix": main["matrix"],
        "stage_accuracy": main["stage"],
        "stage_accuracy_top5": main["stage_top5"],
        "accuracy": accuracy,
        "metrics": _summarize(main),
        "metrics_by_score": {name: _summarize(entry) for name, entry in accuracy.items()},
        "timings": {
            "tasks": timings,
            "total_seconds": total_seconds,
            "train_seconds": total_train,
            "train_images_per_second": total_images / total_train if total_train > 0 else 0.0,
        },
        "versions": versions(),
        "config": config_to_dict(config),
        "config_sources": dict(config._sources),
    }
    results["metrics"]["average_incremental_accuracy_top5"] = float(np.mean(main["stage_top5"]))
    results["metrics"]["last_accuracy_top5"] = float(main["stage_top5"][-1])  # RM's and IL2M's ImageNet figure
    if ledger is not None:
        results["ledger"] = ledger.to_dict()
    policy = getattr(getattr(getattr(method, "memory", None), "policy", None), "name", None)
    if policy is not None:  # what memory.policy/replay left unset resolved to (the method's defaults)
        from retain.methods.base import replay_mode

        results["memory_in_use"] = {"policy": policy, "replay": replay_mode(config.memory, type(method))}
    extra = method.extra_results()
    if extra:
        results["method_results"] = extra
    return results
