"""One run: load data, plan tasks, drive the method through the engine, write the run directory."""

from __future__ import annotations

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
from retain.errors import ConfigError
from retain.experiment.config import RetainConfig, config_to_dict
from retain.experiment.console import Reporter
from retain.experiment.results import versions, write_json, write_yaml
from retain.methods import Method, get_method_class
from retain.scenarios import Plan, blurry, class_incremental


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
    setup = build_setup(config, reporter)
    plan, method, ctx = setup.plan, setup.method, setup.ctx
    if dry_run:
        reporter.out.print(plan.describe(setup.dataset.class_names))
        from retain.experiment.budgeting import describe_forecast, resolve_budget

        resolved = resolve_budget(config, setup.dataset.image_shape, len(plan.tasks))
        reporter.out.print(describe_forecast(config, resolved, [len(t.seen_classes) for t in plan.tasks]), markup=False, highlight=False, soft_wrap=True)
        return {"plan": plan.to_dict(), "dry_run": True}

    run_dir.mkdir(parents=True, exist_ok=True)
    write_yaml(run_dir / "config.yaml", config_to_dict(config))
    write_json(run_dir / "plan.json", plan.to_dict())
    reporter.log(f"augmentation (train): {ctx.augmenter.describe()}")
    num_tasks = len(plan.tasks)
    accuracy: dict[str, dict[str, list]] = {}
    ledger = None
    if ctx.budget_bytes is not None and method.uses_memory:
        from retain.memory.ledger import Ledger

        ledger = Ledger()
    timings: list[dict[str, float]] = []
    best_epoch_stage: list[float] = []  # eval.every_epoch: max over the task's epochs and its final evaluation
    started = time.perf_counter()
    results: dict[str, Any] = {}
    with reporter:
        reporter.start_run(num_tasks)
        for task in plan.tasks:
            reporter.start_task(task.index, num_tasks, ctx.epochs_for(task))
            t0 = time.perf_counter()
            method.before_task(task)
            epoch_scores: list[float] = []
            on_epoch = evaluating_each_epoch(reporter.epoch, method, task, ctx, epoch_scores) if config.eval.every_epoch else reporter.epoch
            stats = train_task(method, task, ctx, on_epoch=on_epoch)
            t1 = time.perf_counter()
            method.after_task(task)
            t2 = time.perf_counter()
            evaluation = evaluate(method, task, ctx)
            if ledger is not None:
                ledger.record(task.index, method.ledger_items(), ctx.budget_bytes, method.exemplars_per_class())
            for name, acc in evaluation.scores.items():
                entry = accuracy.setdefault(name, {"matrix": [], "stage": [], "stage_top5": []})
                entry["matrix"].append(_matrix_row(acc.per_task, num_tasks))
                entry["stage"].append(acc.top1)
                entry["stage_top5"].append(acc.top5)
            timings.append({
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
                best_epoch_stage.append(max([*epoch_scores, final]))
            results = _assemble(config, setup, method, accuracy, ledger, timings, time.perf_counter() - started, run_dir)
            _add_optional_metrics(results, config, best_epoch_stage)
            results["completed_tasks"] = task.index + 1
            write_json(run_dir / "results.json", results)
            reporter.end_task(task.index, num_tasks, results["stage_accuracy"][-1])
    if not reporter.quiet:
        reporter.final_table(results)
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
