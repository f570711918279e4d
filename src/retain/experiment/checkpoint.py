"""Checkpoints of a run: what to save to continue it bit-exactly, written atomically, loaded safely.

A run directory holds at most two checkpoint files under `checkpoints/`:

* `task.pt`, rewritten after every task: the method's state, every RNG and the run's progress
  (accuracy rows, ledger, timings) once that task was evaluated;
* `epoch.pt`, written every `checkpoint.every_epochs` epochs inside a task: the same plus the
  optimiser, scheduler and position (phase, epoch) of that task's training.

Resuming rebuilds the run from its config, loads `task.pt`, and when `epoch.pt` belongs to the
next task replays that task's `before_task`/`before_phase` before loading the epoch state, so
structures (grown heads, teachers) and side effects come back exactly as they were.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from retain.engine.context import RunContext
from retain.engine.trainer import TrainPoint, TrainResume, TrainStats
from retain.errors import CheckpointError
from retain.experiment.results import atomic_write, atomic_write_text
from retain.memory.ledger import Ledger
from retain.methods import Method

FORMAT_VERSION = 1
CHECKPOINT_DIR = "checkpoints"
TASK_FILE = "task.pt"
EPOCH_FILE = "epoch.pt"


# ---------------------------------------------------------------------- RNG states
def capture_rng(ctx: RunContext) -> dict[str, Any]:
    """Every random state a run draws from: python, numpy, torch (CPU and CUDA), the sampling
    generator and the augmenter's generator."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "torch": torch.get_rng_state(),
        "sampling": ctx.generator.get_state(),
        "augmenter": ctx.augmenter.state_dict(),
    }
    if ctx.device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(ctx: RunContext, state: dict[str, Any]) -> None:
    """Put back what `capture_rng` saved."""
    random.setstate(_as_tuple(state["python"]))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    ctx.generator.set_state(state["sampling"])
    ctx.augmenter.load_state_dict(state["augmenter"])
    if "cuda" in state and ctx.device.type == "cuda":
        torch.cuda.set_rng_state_all(state["cuda"])


def _as_tuple(value: Any) -> Any:
    """random.setstate wants tuples all the way down (a round trip may give lists)."""
    return tuple(_as_tuple(v) for v in value) if isinstance(value, (list, tuple)) else value


# ---------------------------------------------------------------------- run progress
@dataclass
class RunProgress:
    """What a run has measured so far: everything results.json is assembled from."""

    completed_tasks: int = 0
    accuracy: dict[str, dict[str, list]] = field(default_factory=dict)
    timings: list[dict[str, float]] = field(default_factory=list)
    best_epoch_stage: list[float] = field(default_factory=list)  # eval.every_epoch
    epoch_scores: list[float] = field(default_factory=list)      # eval.every_epoch, current task
    global_epoch: int = 0                                        # epochs trained over the whole run
    elapsed_seconds: float = 0.0
    checkpoint_seconds: float = 0.0                              # time spent writing checkpoints
    resumes: list[dict[str, Any]] = field(default_factory=list)  # where each resume started
    ledger: Ledger | None = None

    def state_dict(self) -> dict[str, Any]:
        state = {k: v for k, v in asdict(self).items() if k != "ledger"}
        state["ledger"] = None if self.ledger is None else self.ledger.state_dict()
        return state

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> RunProgress:
        progress = cls(**{k: v for k, v in state.items() if k != "ledger"})
        if state["ledger"] is not None:
            progress.ledger = Ledger()
            progress.ledger.load_state_dict(state["ledger"])
        return progress


# ---------------------------------------------------------------------- files
def atomic_torch_save(path: Path, payload: dict[str, Any]) -> None:
    """torch.save to a temporary file in the same folder, fsync, then rename over `path`."""
    atomic_write(path, lambda handle: torch.save(payload, handle), binary=True)


def load_checkpoint(path: Path, kind: str) -> dict[str, Any]:
    """Load a checkpoint with weights_only=True; a CheckpointError when it is unreadable or foreign."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for truncated or garbled files
        raise CheckpointError(
            f"Checkpoint {str(path)!r} cannot be read ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); "
            "it is corrupt or truncated. Nothing in the run directory was changed; delete that file to resume "
            "from the previous checkpoint, or start the run again in a new --out."
        ) from None
    required = {"format", "kind", "config", "method", "rng", "progress"}
    if not isinstance(payload, dict) or not required <= set(payload) or payload["kind"] != kind:
        raise CheckpointError(
            f"Checkpoint {str(path)!r} is not a retain {kind!r} checkpoint (it lacks "
            f"{sorted(required - set(payload)) if isinstance(payload, dict) else 'a mapping'}). "
            "Nothing in the run directory was changed."
        )
    if payload["format"] != FORMAT_VERSION:
        raise CheckpointError(
            f"Checkpoint {str(path)!r} has format {payload['format']}, this retain reads format {FORMAT_VERSION}; "
            "resume it with the retain version that wrote it. Nothing in the run directory was changed."
        )
    return payload


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}; lists and scalars are leaves."""
    if isinstance(tree, dict) and tree:
        out: dict[str, Any] = {}
        for key, value in tree.items():
            out.update(flatten(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: tree}


def config_differences(expected: dict[str, Any], found: dict[str, Any]) -> list[str]:
    """Dotted keys whose values differ between two config mappings, shown as `key: a != b`."""
    a, b = flatten(expected), flatten(found)
    return [f"{key}: {a.get(key, '<unset>')!r} != {b.get(key, '<unset>')!r}" for key in sorted(set(a) | set(b)) if a.get(key, "<unset>") != b.get(key, "<unset>")]


def check_same_config(expected: dict[str, Any], found: dict[str, Any], what: str, where: Path) -> None:
    """Refuse to continue a run with a config that differs from the one it was started with."""
    differences = config_differences(expected, found)
    if differences:
        shown = "; ".join(differences[:8]) + ("; ..." if len(differences) > 8 else "")
        raise CheckpointError(
            f"{what} does not match the config of the run in {str(where)!r} (config.yaml): {shown}. "
            "A run can only be resumed with the configuration that started it; nothing was overwritten."
        )


# ---------------------------------------------------------------------- the checkpointer
@dataclass
class ResumePoint:
    """What `Checkpointer.load` found: the state at the last task boundary and, when the run
    stopped inside the next task, the state at its last saved epoch."""

    task: dict[str, Any] | None
    epoch: dict[str, Any] | None

    @property
    def progress(self) -> RunProgress:
        latest = self.epoch or self.task
        return RunProgress() if latest is None else RunProgress.from_state(latest["progress"])


class Checkpointer:
    """Writes and reads the checkpoints of one run directory."""

    def __init__(self, run_dir: Path, config_dict: dict[str, Any], every_epochs: int) -> None:
        self.dir = Path(run_dir) / CHECKPOINT_DIR
        self.config_dict = config_dict
        self.every_epochs = every_epochs

    def _payload(self, kind: str, method: Method, ctx: RunContext, progress: RunProgress, **extra: Any) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION, "kind": kind, "config": self.config_dict,
            "method": method.state_dict(), "rng": capture_rng(ctx), "progress": progress.state_dict(), **extra,
        }

    def _save(self, name: str, payload: dict[str, Any], progress: RunProgress) -> None:
        started = time.perf_counter()
        atomic_torch_save(self.dir / name, payload)
        # A small readable marker of the newest checkpoint (for people and for tests that wait on it).
        marker = {"kind": payload["kind"], "completed_tasks": payload["progress"]["completed_tasks"],
                  "phase": payload.get("phase"), "epoch": payload.get("epoch")}
        atomic_write_text(self.dir / "latest.json", json.dumps(marker) + "\n")
        progress.checkpoint_seconds += time.perf_counter() - started

    def save_task(self, method: Method, ctx: RunContext, progress: RunProgress) -> None:
        """The task-boundary checkpoint; the previous task's epoch checkpoint becomes stale and goes."""
        self._save(TASK_FILE, self._payload("task", method, ctx, progress), progress)
        (self.dir / EPOCH_FILE).unlink(missing_ok=True)

    def epoch_hook(self, method: Method, ctx: RunContext, progress: RunProgress):
        """The trainer's after_epoch callback: an epoch checkpoint every `every_epochs` epochs."""

        def after_epoch(point: TrainPoint) -> None:
            if self.every_epochs and progress.global_epoch % self.every_epochs == 0:
                self._save(EPOCH_FILE, self._payload(
                    "epoch", method, ctx, progress, phase=point.phase, epoch=point.epoch,
                    optimizer=point.optimizer.state_dict(), scheduler=point.scheduler.state_dict(),
                    stats=asdict(point.stats),
                ), progress)

        return after_epoch

    def exists(self) -> bool:
        return (self.dir / TASK_FILE).exists() or (self.dir / EPOCH_FILE).exists()

    def load(self) -> ResumePoint:
        """Read and check both files (config included) before anything is changed."""
        task = load_checkpoint(self.dir / TASK_FILE, "task") if (self.dir / TASK_FILE).exists() else None
        epoch = load_checkpoint(self.dir / EPOCH_FILE, "epoch") if (self.dir / EPOCH_FILE).exists() else None
        for payload, name in ((task, TASK_FILE), (epoch, EPOCH_FILE)):
            if payload is not None:
                check_same_config(self.config_dict, payload["config"], f"Checkpoint {str(self.dir / name)!r}", self.dir.parent)
        done = task["progress"]["completed_tasks"] if task else 0
        if epoch is not None:
            epoch_task = epoch["progress"]["completed_tasks"]
            if epoch_task < done:
                epoch = None  # written before the task boundary that followed it: stale
            elif epoch_task > done:
                raise CheckpointError(
                    f"Checkpoint {str(self.dir / EPOCH_FILE)!r} is inside task {epoch_task + 1} but the task checkpoint "
                    f"ends after task {done}; the checkpoints do not belong together. Nothing was changed."
                )
        return ResumePoint(task, epoch)

    @staticmethod
    def train_resume(point: ResumePoint, method: Method, ctx: RunContext) -> TrainResume | None:
        """The trainer's resume argument for a run that stopped inside a task."""
        if point.epoch is None:
            return None
        epoch = point.epoch

        def restore() -> None:
            method.load_state_dict(epoch["method"])
            restore_rng(ctx, epoch["rng"])

        return TrainResume(
            phase=int(epoch["phase"]), epoch=int(epoch["epoch"]), optimizer_state=epoch["optimizer"],
            scheduler_state=epoch["scheduler"], stats=TrainStats(**epoch["stats"]), restore=restore,
        )
