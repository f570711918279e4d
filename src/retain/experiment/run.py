"""One run: load data, plan tasks, drive the method through the engine, write the run directory."""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from retain import metrics
from retain.augment import Augmenter
from retain.data import Dataset, ImageSplit, load_dataset
from retain.engine.context import RunContext
from retain.engine.evaluator import evaluate, evaluating_each_epoch
from retain.engine.trainer import train_task
from retain.errors import CheckpointError, ConfigError
from retain.experiment.checkpoint import Checkpointer, ResumePoint, RunProgress, check_same_config, restore_rng
from retain.experiment.config import RetainConfig, config_to_dict, read_yaml, validate_config
from retain.experiment.console import Reporter
from retain.experiment.results import versions, write_json, write_yaml
from retain.experiment.tracking import Tracker
from retain.memory.ledger import Ledger
from retain.methods import Method, get_method_class
from retain.scenarios import Plan, TaskSpec, blurry, class_incremental


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (parameter initialisation)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def resolve_device(name: str) -> torch.device:
    """The requested device, or a ConfigError if it is not available here."""
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"`device` = {name!r} is not a device name; use cpu, cuda or cuda:N.") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"`device` = {name!r} but no CUDA device is available on this machine; use device=cpu.")
    return device


def make_plan(config: RetainConfig, dataset: Dataset) -> Plan:
    """The task plan of the configured scenario for this dataset."""
    s = config.scenario
    train_labels = dataset.train.labels.numpy()
    test_labels = dataset.test.labels.numpy()
    if s.kind == "blurry":
        increment = s.increment
        num_tasks = s.num_tasks or dataset.num_classes // increment
        return blurry(train_labels, test_labels, dataset.num_classes, num_tasks, s.blurry, s.order, s.order_seed)
    return class_incremental(
        train_labels, test_labels, dataset.num_classes, base=s.base, increment=s.increment,
        order=s.order, seed=s.order_seed, num_tasks=s.num_tasks,
    )


def remap_dataset(dataset: Dataset, plan: Plan) -> Dataset:
    """The dataset with labels in the plan's class order and class names to match."""
    return Dataset(
        name=dataset.name,
        train=ImageSplit(dataset.train.images, torch.as_tensor(plan.remap(dataset.train.labels))),
        test=ImageSplit(dataset.test.images, torch.as_tensor(plan.remap(dataset.test.labels))),
        class_names=[dataset.class_names[c] for c in plan.class_order],
        mean=dataset.mean,
        std=dataset.std,
    )


def default_run_dir(config: RetainConfig) -> Path:
    name = config.preset or f"{config.data.name}"
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{name}-{config.method_name}-seed{config.seed}-{stamp}"


def check_run_dir(run_dir: Path) -> None:
    """Refuse to write into a directory that already holds a run (nothing written is ever lost)."""
    if (run_dir / "results.json").exists() or (run_dir / "config.yaml").exists():
        raise ConfigError(
            f"Run directory {str(run_dir)!r} (--out) already holds a run; choose another --out "
            "or delete it first. Nothing was overwritten."
        )


@dataclass
class Setup:
    """Everything built before training starts."""

    config: RetainConfig
    dataset: Dataset
    plan: Plan
    ctx: RunContext
    method: Method


def build_setup(config: RetainConfig, reporter: Reporter | None = None) -> Setup:
    """Load data, build the plan, the context and the method, and check the budget is feasible."""
    seed_everything(config.seed)
    if config.train.threads is not None:
        torch.set_num_threads(config.train.threads)
    device = resolve_device(config.device)
    method_cls = get_method_class(config.method_name)
    params = method_cls.Params.model_validate(config.method_params)
    raw = load_dataset(config.data.name, data_dir=config.data.dir, download=config.data.download, mirror=config.data.mirror)
    plan = make_plan(config, raw)
    dataset = remap_dataset(raw, plan).to(device)
    from retain.experiment.budgeting import memory_budget_bytes

    budget_bytes = memory_budget_bytes(config, dataset.image_shape, len(plan.tasks))
    augmenter = Augmenter(config.augment, dataset.mean, dataset.std, device=device, seed=config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    ctx = RunContext(
        config=config, dataset=dataset, plan=plan, device=device, augmenter=augmenter,
        generator=generator, budget_bytes=budget_bytes, log=(reporter.log if reporter else print),
    )
    method = method_cls(ctx, params)
    method.check_setup()
    return Setup(config, dataset, plan, ctx, method)


def _matrix_row(per_task: list[float], num_tasks: int) -> list[float]:
    return per_task + [float("nan")] * (num_tasks - len(per_task))


def run(config: RetainConfig, out: str | Path | None = None, dry_run: bool = False, reporter: Reporter | None = None) -> dict[str, Any]:
    """Run the experiment described by `config` and write its run directory; return the results."""
    reporter = reporter or Reporter(quiet=True)
    if config.budget.protocol == "auc" and config.budget.point is None:
        from retain.experiment.budgeting import run_budget_sweep

        return run_budget_sweep(config, out=out, dry_run=dry_run, reporter=reporter)
    run_dir = Path(out) if out else default_run_dir(config)
    if not dry_run:
        check_run_dir(run_dir)
    else:
        from retain.experiment.budgeting import budget_forecast_text

        # Printed before the data is loaded: the budget forecast needs only the config.
        reporter.out.print(budget_forecast_text(config), markup=False, highlight=False, soft_wrap=True)
    setup = build_setup(config, reporter)
    plan, method, ctx = setup.plan, setup.method, setup.ctx
    if dry_run:
        reporter.out.print(plan.describe(setup.dataset.class_names))
        return {"plan": plan.to_dict(), "dry_run": True}

    run_dir.mkdir(parents=True, exist_ok=True)
    write_yaml(run_dir / "config.yaml", config_to_dict(config))
    write_json(run_dir / "plan.json", plan.to_dict())
    reporter.log(f"augmentation (train): {ctx.augmenter.describe()}")
    return _learn_tasks(config, setup, run_dir, reporter, ResumePoint(task=None, epoch=None))


def resume_run(run_dir: str | Path, config: RetainConfig | None = None, reporter: Reporter | None = None) -> dict[str, Any]:
    """Continue the run in `run_dir` from its last checkpoint (from the start when it has none yet).

    `config`, when given, must equal the run's config.yaml. Checkpoints are read and checked
    before anything is written, so a refused resume leaves the directory as it was.
    """
    reporter = reporter or Reporter(quiet=True)
    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise CheckpointError(
            f"--resume {str(run_dir)!r} is not a run directory (it has no config.yaml); pass the --out "
            "directory of the run to continue."
        )
    saved = validate_config(read_yaml(run_dir / "config.yaml"))
    if config is not None:
        check_same_config(config_to_dict(saved), config_to_dict(config), "The configuration given with --resume", run_dir)
    config = saved
    previous = _read_results(run_dir)
    if previous is not None and previous.get("complete"):
        reporter.log(f"{run_dir} is already complete; nothing to resume.")
        return previous
    point = Checkpointer(run_dir, config_to_dict(config), config.checkpoint.every_epochs).load()
    setup = build_setup(config, reporter)
    done = point.progress.completed_tasks
    where = f"inside task {done + 1} (epoch checkpoint)" if point.epoch else f"after task {done}"
    reporter.log(f"resuming {run_dir} {where}")
    return _learn_tasks(config, setup, run_dir, reporter, point)


def _read_results(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / "results.json"
    try:
        return json.loads(path.read_text()) if path.is_file() else None
    except json.JSONDecodeError:
        return None  # written atomically, so only a foreign file can be malformed; the run recomputes it


def _learn_tasks(config: RetainConfig, setup: Setup, run_dir: Path, reporter: Reporter, point: ResumePoint) -> dict[str, Any]:
    """Drive the method through the remaining tasks, checkpointing and logging as configured."""
    plan, method, ctx = setup.plan, setup.method, setup.ctx
    num_tasks = len(plan.tasks)
    progress = point.progress
    if point.task is not None:
        method.load_state_dict(point.task["method"])
        restore_rng(ctx, point.task["rng"])
    if point.task is not None or point.epoch is not None:
        progress.resumes.append({"completed_tasks": progress.completed_tasks,
                                 "epoch_checkpoint": point.epoch is not None})
    if progress.ledger is None and ctx.budget_bytes is not None and method.uses_memory:
        progress.ledger = Ledger()
    train_resume = Checkpointer.train_resume(point, method, ctx)
    checkpointer = Checkpointer(run_dir, config_to_dict(config), config.checkpoint.every_epochs)
    tracker = Tracker(run_dir, config, resume_epoch=progress.global_epoch, resume_task=progress.completed_tasks)
    elapsed_before, started = progress.elapsed_seconds, time.perf_counter()
    finished = False
    try:
        with reporter:
            reporter.start_run(num_tasks)
            for task in plan.tasks[progress.completed_tasks :]:
                reporter.start_task(task.index, num_tasks, ctx.epochs_for(task))
                t0 = time.perf_counter()
                method.before_task(task)
                if train_resume is None:
                    progress.epoch_scores = []
                on_epoch = _epoch_callback(progress, reporter, tracker, task)
                if config.eval.every_epoch:
                    on_epoch = evaluating_each_epoch(on_epoch, method, task, ctx, progress.epoch_scores)
                after_epoch = checkpointer.epoch_hook(method, ctx, progress)
                stats = train_task(method, task, ctx, on_epoch=on_epoch, after_epoch=after_epoch, resume=train_resume)
                train_resume = None
                t1 = time.perf_counter()
                method.after_task(task)
                t2 = time.perf_counter()
                evaluation = evaluate(method, task, ctx)
                if progress.ledger is not None:
                    progress.ledger.record(task.index, method.ledger_items(), ctx.budget_bytes, method.exemplars_per_class())
                for name, acc in evaluation.scores.items():
                    entry = progress.accuracy.setdefault(name, {"matrix": [], "stage": [], "stage_top5": []})
                    entry["matrix"].append(_matrix_row(acc.per_task, num_tasks))
                    entry["stage"].append(acc.top1)
                    entry["stage_top5"].append(acc.top5)
                progress.timings.append({
                    "task": task.index,
                    "before_and_train_seconds": t1 - t0,
                    "train_seconds": stats.seconds,
                    "after_task_seconds": t2 - t1,
                    "eval_seconds": evaluation.seconds,
                    "train_images": stats.images,
                    "train_images_per_second": stats.images_per_second,
                })
                if config.eval.every_epoch:
                    final = evaluation.scores.get(method.primary_score, evaluation.scores["cnn"]).top1
                    progress.best_epoch_stage.append(max([*progress.epoch_scores, final]))
                progress.completed_tasks = task.index + 1
                progress.elapsed_seconds = elapsed_before + time.perf_counter() - started
                results = _write_results(config, setup, method, progress, run_dir)
                checkpointer.save_task(method, ctx, progress)
                tracker.task(results)
                reporter.end_task(task.index, num_tasks, results["stage_accuracy"][-1])
        finished = True
    except KeyboardInterrupt:
        reporter.console.print(f"interrupted; continue with: retain run --resume {run_dir}")
        raise
    finally:
        tracker.close(finished)
    results = _write_results(config, setup, method, progress, run_dir)  # also when a resume had nothing left to train
    if config.logging.report:
        from retain.experiment.report import write_report

        results["report"] = str(write_report(run_dir))
    if not reporter.quiet:
        reporter.final_table(results)
    return results


def _epoch_callback(progress: RunProgress, reporter: Reporter, tracker: Tracker, task: TaskSpec):
    """The trainer's per-epoch callback: count the run's epochs, show progress, log curves."""

    def on_epoch(phase: str, epoch: int, epochs: int, loss: float, lr: float) -> None:
        progress.global_epoch += 1
        reporter.epoch(phase, epoch, epochs, loss, lr)
        tracker.epoch(progress.global_epoch, task.index, phase, loss, lr)

    return on_epoch


def _write_results(config: RetainConfig, setup: Setup, method: Method, progress: RunProgress, run_dir: Path) -> dict[str, Any]:
    """Assemble results.json from the progress so far and write it atomically."""
    results = _assemble(config, setup, method, progress.accuracy, progress.ledger, progress.timings, progress.elapsed_seconds, run_dir)
    _add_optional_metrics(results, config, progress.best_epoch_stage)
    results["completed_tasks"] = progress.completed_tasks
    results["complete"] = progress.completed_tasks == len(setup.plan.tasks)
    results["timings"]["checkpoint_seconds"] = progress.checkpoint_seconds
    results["resumes"] = progress.resumes
    write_json(run_dir / "results.json", results)
    return results


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
    }
    results["metrics"]["average_incremental_accuracy_top5"] = float(np.mean(main["stage_top5"]))
    if ledger is not None:
        results["ledger"] = ledger.to_dict()
    extra = method.extra_results()
    if extra:
        results["method_results"] = extra
    return results
