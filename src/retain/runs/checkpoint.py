"""Checkpoints of a run: what to save to continue it bit-exactly, written atomically, checked, loaded safely.

A run directory keeps under `checkpoints/`:

* `task-NNNN.pt` after task NNNN (the newest two): the method's state, every RNG and the run's
  progress (accuracy rows, ledger, timings) once that task was evaluated;
* `epoch-NNNN.pt` (the newest one; NNNN = epochs trained in the run), written every
  `checkpoint.every_epochs` epochs inside a task: the same plus the optimiser, scheduler and
  position (phase, epoch) of that task's training;
* beside each, `<file>.sha256`: the SHA-256 of its bytes, written before the checkpoint is renamed
  into place, so a checkpoint on disk always has its digest; `latest.json` names the newest.

Resuming verifies every digest: a checkpoint whose bytes changed is refused with a message naming
it, and the resume falls back to the newest good one (the previous task checkpoint, or the task
checkpoint instead of a bad epoch checkpoint). It rebuilds the run from its config, loads the task
checkpoint, and when an epoch checkpoint belongs to the next task replays that task's
`before_task`/`before_phase` before loading the epoch state, so structures (grown heads,
teachers) and side effects come back exactly as they were.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import random
import re
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from retain.config.tree import flatten
from retain.engine import observers
from retain.engine.context import RunContext
from retain.engine.trainer import TrainPoint, TrainResume, TrainStats
from retain.errors import CheckpointError
from retain.files import atomic_write, atomic_write_text
from retain.memory.ledger import Ledger
from retain.methods import Method

# 2: method state from declarations (methods/state.py) and IL2M's own score set; checkpoints of
# format 1 are refused by name instead of failing half-way through a resume.
FORMAT_VERSION = 2
CHECKPOINT_DIR = "checkpoints"
DIGEST_SUFFIX = ".sha256"
KEEP_TASK_CHECKPOINTS = 2  # the newest and the one before it, to fall back on
_NAME = re.compile(r"^(task|epoch)-(\d+)\.pt$")


# ---------------------------------------------------------------------- RNG states
def capture_rng(ctx: RunContext) -> dict[str, Any]:
    """Every random state a run draws from: python, numpy, torch (CPU and CUDA), the sampling
    generator and the augmenter's generator; also the optimiser state carried to the next task
    (`train.reset_optimizer: false`), the one other piece of run state outside the method."""
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
    if ctx.optimizer_carry is not None:
        state["optimizer_carry"] = ctx.optimizer_carry
    return state


def restore_rng(ctx: RunContext, state: dict[str, Any]) -> None:
    """Put back what `capture_rng` saved."""
    random.setstate(_as_tuple(state["python"]))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    ctx.generator.set_state(state["sampling"])
    ctx.augmenter.load_state_dict(state["augmenter"])
    ctx.optimizer_carry = state.get("optimizer_carry")
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
def file_sha256(path: Path) -> str:
    """The SHA-256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_checked(path: Path, payload: dict[str, Any]) -> None:
    """torch.save to a temporary file, fsync, write `<path>.sha256`, then rename into `path`.

    The digest is on disk before the checkpoint is, so every checkpoint file can be verified; a
    kill at any moment leaves at worst a `.tmp` file (removed on the next start) or a digest
    without its checkpoint (ignored).
    """
    # Serialised in memory first: torch's file writer turns a full disk into a RuntimeError, a plain
    # write gives the OSError (ENOSPC) the run reports with its resume command.
    buffer = io.BytesIO()
    torch.save(payload, buffer)

    def digest_first(tmp: Path) -> None:
        observers.moment("checkpoint-write")
        atomic_write_text(_digest_path(path), f"{file_sha256(tmp)}  {path.name}\n")

    atomic_write(path, lambda handle: handle.write(buffer.getbuffer()), binary=True, before_rename=digest_first)


def _digest_path(path: Path) -> Path:
    return path.with_name(path.name + DIGEST_SUFFIX)


def verify_checkpoint(path: Path) -> str | None:
    """None when `path` matches its recorded SHA-256, else why not (for the message)."""
    digest_file = _digest_path(path)
    if not digest_file.is_file():
        return f"it has no digest file {digest_file.name} (it was not written by this retain, or not completely)"
    try:
        expected = digest_file.read_text().split()[0]
    except (IndexError, OSError, UnicodeDecodeError):
        return f"its digest file {digest_file.name} is unreadable"
    found = file_sha256(path)
    if found != expected:
        return f"its SHA-256 is {found[:16]}…, but {expected[:16]}… was recorded when it was written: its bytes changed"
    return None


def load_checkpoint(path: Path, kind: str) -> dict[str, Any]:
    """Load a checkpoint with weights_only=True; a CheckpointError when it is unreadable or foreign."""
    try:
        with warnings.catch_warnings():  # torch warns about the pickle protocol of files it then refuses
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for truncated, garbled or crafted files
        raise CheckpointError(
            f"Checkpoint {str(path)!r} cannot be read ({type(exc).__name__}: {_first_line(exc)}); "
            "it is corrupt, truncated or not a retain checkpoint. Nothing in the run directory was changed; "
            "delete that file to resume from the previous checkpoint, or start the run again in a new --out."
        ) from None
    required = {"format", "kind", "config", "method", "rng", "progress"}
    if not isinstance(payload, dict) or not required <= set(payload) or payload["kind"] != kind:
        if not isinstance(payload, dict):
            why = "it does not hold a mapping"
        elif not required <= set(payload):
            why = f"it lacks {sorted(required - set(payload))}"
        else:
            why = f"it is a {payload['kind']!r} checkpoint stored under a {kind!r} checkpoint's name"
        raise CheckpointError(
            f"Checkpoint {str(path)!r} is not a retain {kind!r} checkpoint ({why}). Nothing in the run directory was changed."
        )
    if payload["format"] != FORMAT_VERSION:
        raise CheckpointError(
            f"Checkpoint {str(path)!r} has format {payload['format']}, this retain reads format {FORMAT_VERSION}; "
            "resume it with the retain version that wrote it. Nothing in the run directory was changed."
        )
    return payload


def _first_line(exc: Exception) -> str:
    """The cause of a torch.load failure without torch's advice to load untrusted files unsafely."""
    text = str(exc)
    if "weights_only" in text or "Weights only load failed" in text:
        return "it holds objects other than tensors and plain containers, which are never unpickled"
    return (text.strip().splitlines() or [""])[0][:200]


# Settings that cannot change what a run computes: a resume may change them (a new tracking
# back-end, a larger evaluation batch, another device, more frequent checkpoints).
RESULT_NEUTRAL_SETTINGS = ("logging", "eval.batch_size", "device", "checkpoint.every_epochs")


def is_result_neutral(key: str) -> bool:
    """Whether the dotted setting `key` is one a resume may change (RESULT_NEUTRAL_SETTINGS)."""
    return any(key == name or key.startswith(name + ".") for name in RESULT_NEUTRAL_SETTINGS)


def config_differences(expected: dict[str, Any], found: dict[str, Any], neutral: bool | None = None) -> list[str]:
    """Dotted keys whose values differ between two config mappings, shown as `key: a != b`;
    `neutral` True/False keeps only the result-neutral / result-altering ones (None: all)."""
    a, b = flatten(expected), flatten(found)
    keys = [key for key in sorted(set(a) | set(b)) if a.get(key, "<unset>") != b.get(key, "<unset>")]
    if neutral is not None:
        keys = [key for key in keys if is_result_neutral(key) == neutral]
    return [f"{key}: {a.get(key, '<unset>')!r} != {b.get(key, '<unset>')!r}" for key in keys]


def with_resolved_method(config_dict: dict[str, Any]) -> dict[str, Any]:
    """A stored config with every method parameter written out, as config.yaml now holds them:
    checkpoints of runs started by an older retain stored only the parameters the user gave.
    A config that no longer validates is returned as it is (the comparison names the difference)."""
    from retain.errors import RetainError
    from retain.runs.config import config_to_dict, validate_config

    try:
        return config_to_dict(validate_config(copy.deepcopy(config_dict)))
    except (RetainError, TypeError, ValueError):
        return config_dict


def check_same_config(expected: dict[str, Any], found: dict[str, Any], what: str, where: Path) -> list[str]:
    """Refuse to continue a run with a config that would change its results; return the
    differences in result-neutral settings (RESULT_NEUTRAL_SETTINGS), which are allowed."""
    differences = config_differences(expected, found, neutral=False)
    if differences:
        shown = "; ".join(differences[:8]) + ("; ..." if len(differences) > 8 else "")
        raise CheckpointError(
            f"{what} does not match the config of the run in {str(where)!r} (config.yaml): {shown}. "
            "A run can only be resumed with the settings that decide its results; only "
            f"{', '.join(RESULT_NEUTRAL_SETTINGS)} may change. Nothing was overwritten."
        )
    return config_differences(expected, found, neutral=True)


# ---------------------------------------------------------------------- the checkpointer
@dataclass
class ResumePoint:
    """What `Checkpointer.load` found: the state at the last task boundary and, when the run
    stopped inside the next task, the state at its last saved epoch; `notes` say which
    checkpoints were refused and what the resume falls back on."""

    task: dict[str, Any] | None
    epoch: dict[str, Any] | None
    notes: list[str] = field(default_factory=list)

    @property
    def progress(self) -> RunProgress:
        latest = self.epoch or self.task
        return RunProgress() if latest is None else RunProgress.from_state(latest["progress"])


class Checkpointer:
    """Writes, verifies and reads the checkpoints of one run directory."""

    def __init__(self, run_dir: Path, config_dict: dict[str, Any], every_epochs: int) -> None:
        self.dir = Path(run_dir) / CHECKPOINT_DIR
        self.config_dict = config_dict
        self.every_epochs = every_epochs

    def _payload(self, kind: str, method: Method, ctx: RunContext, progress: RunProgress, **extra: Any) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION, "kind": kind, "config": self.config_dict,
            "method": method.state_dict(), "rng": capture_rng(ctx), "progress": progress.state_dict(), **extra,
        }

    def files(self, kind: str) -> list[Path]:
        """The `kind` ("task" or "epoch") checkpoint files on disk, newest first."""
        found = []
        for path in self.dir.glob(f"{kind}-*.pt"):
            match = _NAME.match(path.name)
            if match:
                found.append((int(match.group(2)), path))
        return [path for _, path in sorted(found, reverse=True)]

    def _remove(self, path: Path) -> None:
        path.unlink(missing_ok=True)
        _digest_path(path).unlink(missing_ok=True)

    def _save(self, kind: str, number: int, payload: dict[str, Any], progress: RunProgress) -> Path:
        started = time.perf_counter()
        path = self.dir / f"{kind}-{number:04d}.pt"
        save_checked(path, payload)
        # A small readable marker of the newest checkpoint (for people and for tests that wait on it).
        marker = {"kind": payload["kind"], "completed_tasks": payload["progress"]["completed_tasks"],
                  "phase": payload.get("phase"), "epoch": payload.get("epoch"), "file": path.name}
        atomic_write_text(self.dir / "latest.json", json.dumps(marker) + "\n")
        progress.checkpoint_seconds += time.perf_counter() - started
        return path

    def save_task(self, method: Method, ctx: RunContext, progress: RunProgress) -> None:
        """The task-boundary checkpoint; epoch checkpoints become stale and go, the task checkpoint
        before this one stays to fall back on."""
        self._save("task", progress.completed_tasks, self._payload("task", method, ctx, progress), progress)
        for path in self.files("epoch"):
            self._remove(path)
        for path in self.files("task")[KEEP_TASK_CHECKPOINTS:]:
            self._remove(path)

    def epoch_hook(self, method: Method, ctx: RunContext, progress: RunProgress):
        """The trainer's after_epoch callback: an epoch checkpoint every `every_epochs` epochs."""

        def after_epoch(point: TrainPoint) -> None:
            if self.every_epochs and progress.global_epoch % self.every_epochs == 0:
                saved = self._save("epoch", progress.global_epoch, self._payload(
                    "epoch", method, ctx, progress, phase=point.phase, epoch=point.epoch,
                    optimizer=point.optimizer.state_dict(), scheduler=point.scheduler.state_dict(),
                    stats=asdict(point.stats),
                ), progress)
                for path in self.files("epoch"):
                    if path != saved:
                        self._remove(path)

        return after_epoch

    def exists(self) -> bool:
        return bool(self.files("task") or self.files("epoch"))

    def remove_orphan_digests(self) -> None:
        """Digest files whose checkpoint never got renamed into place (a kill between the two)."""
        for digest in self.dir.glob(f"*.pt{DIGEST_SUFFIX}"):
            if not digest.with_name(digest.name[: -len(DIGEST_SUFFIX)]).exists():
                digest.unlink(missing_ok=True)

    def _shown(self, path: Path) -> str:
        return f"checkpoints/{path.name}"

    def _newest_good(self, kind: str, refused: list[str], accept=lambda payload: True) -> tuple[Path, dict[str, Any]] | None:
        """The newest `kind` checkpoint whose digest matches and that loads; the others are listed in `refused`."""
        for path in self.files(kind):
            problem = verify_checkpoint(path)
            if problem is None:
                try:
                    payload = load_checkpoint(path, kind)
                except CheckpointError as exc:
                    problem = str(exc).split(". Nothing")[0]
                else:
                    if not accept(payload):
                        continue
                    check_same_config(self.config_dict, with_resolved_method(payload["config"]), f"Checkpoint {str(path)!r}",
                                      self.dir.parent)
                    return path, payload
            refused.append(f"{self._shown(path)} is refused: {problem}")
        return None

    def load(self) -> ResumePoint:
        """Verify and read the newest good checkpoints (config included) before anything is changed.

        A checkpoint that fails its digest or does not load is skipped for the one before it;
        when checkpoints exist but none can be used, a CheckpointError names each and why.
        """
        legacy = [name for name in ("task.pt", "epoch.pt") if (self.dir / name).exists()]
        if legacy and not self.exists():
            raise CheckpointError(
                f"The run in {str(self.dir.parent)!r} has checkpoints {legacy} from an older retain, which wrote no "
                "digest to verify them; resume it with that version, or start the run again in a new --out. "
                "Nothing was changed."
            )
        refused: list[str] = []
        found = self._newest_good("task", refused)
        task_path, task = found if found else (None, None)
        done = task["progress"]["completed_tasks"] if task else 0
        task_refused = bool(refused)
        found = self._newest_good("epoch", refused, accept=lambda payload: payload["progress"]["completed_tasks"] >= done)
        epoch_path, epoch = found if found else (None, None)
        if epoch is not None and epoch["progress"]["completed_tasks"] > done:
            if not task_refused:
                raise CheckpointError(
                    f"Checkpoint {str(epoch_path)!r} is inside task {epoch['progress']['completed_tasks'] + 1} but the task "
                    f"checkpoint ends after task {done}; the checkpoints do not belong together (a task checkpoint is "
                    f"missing). Nothing was changed. Restore the missing task checkpoint, or delete {str(epoch_path)!r} "
                    f"to resume after task {done}, or start the run again in a new --out."
                )
            refused.append(f"{self._shown(epoch_path)} is not used: it continues the refused task checkpoint")
            epoch_path, epoch = None, None
        if refused and task is None and epoch is None:
            raise CheckpointError(
                f"No checkpoint of the run in {str(self.dir.parent)!r} can be used: " + "; ".join(refused) +
                ". Nothing in the run directory was changed; start the run again in a new --out."
            )
        notes = []
        if refused:
            using = epoch_path or task_path
            notes.append(f"in {str(self.dir.parent)!r}: " + "; ".join(refused) + f". Resuming from {self._shown(using)} instead.")
        return ResumePoint(task, epoch, notes)

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
