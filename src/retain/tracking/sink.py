"""The interface every tracking back-end implements, and what the tracker hands it."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from retain.config import RetainConfig

# The summary metrics sent at the end of a run (results.json `metrics`), under these names.
SUMMARY_KEYS = ("average_incremental_accuracy", "last_accuracy", "forgetting", "average_incremental_accuracy_top5", "last_accuracy_top5",
                "backward_transfer", "forgetting_fm", "intransigence", "last_accuracy_best_epoch")


class Sink:
    """One tracking back-end. The tracker calls, in order: `epoch` after every epoch (x = epochs
    trained in the run), `task` after every task (x = tasks learned), then once a run is
    complete `summary` and `artifacts`, and `close` always. Every hook is optional.

    A sink is built when its run starts or resumes (`resume_epoch`/`resume_task`: what the run
    had logged up to its checkpoint, so a sink can drop what a killed attempt logged after it).
    """

    def __init__(self, run_dir: Path, config: RetainConfig, resume_epoch: int = 0, resume_task: int = 0) -> None:
        self.run_dir = Path(run_dir)
        self.config = config

    @classmethod
    def enabled(cls, config: RetainConfig) -> bool:
        """Whether the config asks for this back-end."""
        return False

    @classmethod
    def check(cls, config: RetainConfig) -> None:
        """Raise a ConfigError (with an install hint) when the back-end cannot be used; called
        before anything of the run is written."""

    def epoch(self, step: int, values: dict[str, float]) -> None:
        """`train/loss`, `train/lr`, `train/task`, `train/loss_<term>` of one epoch."""

    def task(self, step: int, values: dict[str, float]) -> None:
        """`accuracy_<score>/seen_classes`, `…/task_<j>`, `memory/…_bytes` after task `step`."""

    def summary(self, step: int, metrics: dict[str, float]) -> None:
        """The run's summary metrics (average incremental accuracy, last accuracy, forgetting, ...)."""

    def artifacts(self, files: list[Path]) -> None:
        """The run's files worth keeping with the tracked run (results, config, report, plots)."""

    def close(self, finished: bool) -> None:
        """The run ended (`finished`: every task done) or stopped."""


def summary_metrics(results: dict[str, Any]) -> dict[str, float]:
    """The summary metrics of a results.json that have a value."""
    metrics = results.get("metrics", {})
    return {key: float(metrics[key]) for key in SUMMARY_KEYS
            if isinstance(metrics.get(key), (int, float)) and not math.isnan(float(metrics[key]))}


def artifact_files(run_dir: Path) -> list[Path]:
    """The files of a run directory a tracked run keeps: results.json, config.yaml, plan.json,
    report.md, runs.csv and every plot (PNG, PDF)."""
    names = ["results.json", "config.yaml", "plan.json", "report.md", "runs.csv", "report.tex"]
    files = [run_dir / name for name in names if (run_dir / name).is_file()]
    plots = run_dir / "plots"
    if plots.is_dir():
        files += sorted(p for p in plots.iterdir() if p.suffix in (".png", ".pdf", ".svg"))
    return files


def hparams(config_dict: dict[str, Any]) -> dict[str, Any]:
    """The flattened config as hyper-parameters: scalars kept, lists and None as text."""
    from retain.config.tree import flatten

    out: dict[str, Any] = {}
    for key, value in flatten(config_dict).items():
        out[key] = value if isinstance(value, (bool, int, float, str)) else str(value)
    return out
