"""Live tracking of a run: one `Sink` interface, one small file per back-end.

Built in: TensorBoard (`logging.tensorboard`, on by default), MLflow (`logging.mlflow`) and
Weights & Biases (`logging.wandb: {project: ..., mode: offline|online}`). Everything is logged
once per epoch (the mean loss and loss terms the trainer already brought to the host) or once
per task, so tracking adds no host synchronisation inside the step loop.

Adding a back-end is one file: a `Sink` subclass with `enabled`, `check` and the hooks it
needs, listed in `SINK_CLASSES` (below) or passed to `register_sink` by a plugin.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from retain.config import RetainConfig
from retain.console import apply_levels
from retain.tracking.mlflow_sink import MLFLOW_INSTALL_HINT, MLFLOW_RUN_FILE, MlflowSink
from retain.tracking.sink import Sink, artifact_files, summary_metrics
from retain.tracking.tensorboard_sink import TENSORBOARD_DIR, TensorBoardSink
from retain.tracking.wandb_sink import WANDB_INSTALL_HINT, WANDB_RUN_FILE, WandbSink

SINK_CLASSES: list[type[Sink]] = [TensorBoardSink, MlflowSink, WandbSink]


def register_sink(sink_class: type[Sink]) -> type[Sink]:
    """Add a tracking back-end (usable as a class decorator in a plugin)."""
    if sink_class not in SINK_CLASSES:
        SINK_CLASSES.append(sink_class)
    return sink_class


def check_backends(config: RetainConfig) -> None:
    """Fail before anything is written when a configured back-end cannot be used (not installed,
    an unusable URI), with the install hint."""
    for sink_class in SINK_CLASSES:
        if sink_class.enabled(config):
            sink_class.check(config)


class Tracker:
    """Fans a run's curves out to every enabled sink: loss, loss terms and lr per epoch;
    accuracies and ledger bytes per task; summary metrics, hyper-parameters and the run's files
    at the end."""

    def __init__(self, run_dir: Path, config: RetainConfig, resume_epoch: int = 0, resume_task: int = 0) -> None:
        self.run_dir = Path(run_dir)
        self.config = config
        self.sinks = [cls(self.run_dir, config, resume_epoch, resume_task) for cls in SINK_CLASSES if cls.enabled(config)]
        apply_levels()  # a back-end that set up its own loggers on import (MLflow) follows -q/-v again

    def epoch(self, global_epoch: int, task: int, phase: str, loss: float, lr: float,
              terms: dict[str, float] | None = None) -> None:
        """One finished epoch (global_epoch counts epochs over the whole run, from 1); `terms`
        are the epoch's means of the named loss terms the method returned."""
        values = {"train/loss": loss, "train/lr": lr, "train/task": task + 1}
        for name, value in (terms or {}).items():
            values[f"train/loss_{name}"] = value
        for sink in self.sinks:
            sink.epoch(global_epoch, values)

    def task(self, results: dict[str, Any]) -> None:
        """After a task's evaluation: accuracy on seen classes, per task column, and ledger bytes."""
        step = len(results["stage_accuracy"])
        values: dict[str, float] = {}
        for name, entry in results["accuracy"].items():
            values[f"accuracy_{name}/seen_classes"] = entry["stage"][-1]
            values[f"accuracy_{name}/seen_classes_top5"] = entry["stage_top5"][-1]
            for j, acc in enumerate(entry["matrix"][-1][:step]):
                values[f"accuracy_{name}/task_{j + 1}"] = acc
        if results.get("ledger"):
            last = results["ledger"][-1]
            values["memory/total_bytes"] = last["total_bytes"]
            values["memory/budget_bytes"] = last["budget_bytes"]
            for item, size in last["items"].items():
                values[f"memory/{item}_bytes"] = size
        values = {key: value for key, value in values.items() if value is not None and not _nan(value)}
        for sink in self.sinks:
            sink.task(step, values)

    def finish(self, results: dict[str, Any]) -> None:
        """At the end of a complete run: summary metrics (with the hyper-parameters) and the run's
        files (results.json, config.yaml, report.md, runs.csv, plots)."""
        metrics = summary_metrics(results)
        files = artifact_files(self.run_dir)
        for sink in self.sinks:
            sink.summary(len(results["stage_accuracy"]), metrics)
            sink.artifacts(files)

    def close(self, finished: bool) -> None:
        for sink in self.sinks:
            sink.close(finished)


def _nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


__all__ = ["MLFLOW_INSTALL_HINT", "MLFLOW_RUN_FILE", "SINK_CLASSES", "TENSORBOARD_DIR", "WANDB_INSTALL_HINT",
           "WANDB_RUN_FILE", "MlflowSink", "Sink", "TensorBoardSink", "Tracker", "WandbSink", "check_backends",
           "register_sink"]
