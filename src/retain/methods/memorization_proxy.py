"""The memorization proxy of MAER (spec §5.3) and the selection add-on that uses it.

The proxy orders a task's stream samples by when they became, and stayed, correctly
classified: early = typical (low memorization), late = atypical (high memorization).
`MemorizationSelection` is the add-on a streaming replay method (methods/streaming.py) holds
under `memory.policy: maer`: it tracks the proxy and rewrites the current task's buffer slots
at task end (MAER, and the MAER plug-ins of ER-ACE and DER++).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field

from retain.errors import ConfigError
from retain.memory.policies.maer import longtail_victims, maer_quotas, maer_select, write_back
from retain.methods.base import Batch, MethodParams
from retain.scenarios import TaskSpec

# A stamp is iteration · 2^20 + position in the batch, so sorting stamps gives list order.
_POSITION_BITS = 20


class MemorizationProxy:
    """The ordered list L_t of one task, kept as one int64 stamp per training sample.

    A stamp of −1 means "not in the list". Updates are tensor ops on the device, so
    bookkeeping costs no host synchronisation per step.
    """

    def __init__(self, num_samples: int, device: str | torch.device = "cpu") -> None:
        self.stamps = torch.full((int(num_samples),), -1, dtype=torch.int64, device=device)
        self.iteration = 0

    def reset(self) -> None:
        """Empty the list and restart the iteration counter (at every task start)."""
        self.stamps.fill_(-1)
        self.iteration = 0

    def observe(self, indices: torch.Tensor, correct: torch.Tensor) -> None:
        """One batch of pre-step predictions: a correct sample not in the list is appended
        (stamped with this iteration), a wrong one is removed, a correct one already listed
        keeps its place. The counter then advances by one."""
        indices = indices.to(self.stamps.device)
        correct = correct.to(self.stamps.device)
        current = self.stamps[indices]
        position = torch.arange(indices.numel(), device=indices.device, dtype=torch.int64)
        fresh = (self.iteration << _POSITION_BITS) + position
        kept = torch.where(current >= 0, current, fresh)
        self.stamps[indices] = torch.where(correct, kept, torch.full_like(current, -1))
        self.iteration += 1

    def ordered(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(dataset indices in list order, iteration at which each was appended)."""
        listed = torch.nonzero(self.stamps >= 0).flatten()
        stamps = self.stamps[listed]
        order = torch.argsort(stamps)
        return listed[order], stamps[order] >> _POSITION_BITS

    def state_dict(self) -> dict[str, Any]:
        return {"stamps": self.stamps.cpu().clone(), "iteration": self.iteration}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.stamps = state["stamps"].to(self.stamps.device)
        self.iteration = int(state["iteration"])


def load_memorization_scores(path: str | Path, dataset_name: str, num_samples: int) -> torch.Tensor:
    """Per-sample memorization scores saved by `retain memorization` (a .npy with a .json of
    settings beside it), checked against the run's dataset."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"method.scores_file={str(path)!r} does not exist; write it with `retain memorization` "
            "(a .npy of one score per training sample) or leave it unset to use the online proxy."
        )
    try:
        scores = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:  # a text file, a pickle, an object array, a truncated file
        raise ConfigError(
            f"method.scores_file={str(path)!r} is not a NumPy .npy array of numbers ({str(exc).splitlines()[0][:120]}); "
            "write it with `retain memorization --out FILE.npy`."
        ) from None
    if not isinstance(scores, np.ndarray) or scores.dtype.kind not in "fiu":
        raise ConfigError(
            f"method.scores_file={str(path)!r} holds {getattr(scores, 'dtype', type(scores).__name__)} values; "
            "one real-valued score per training sample is needed (write it with `retain memorization`)."
        )
    settings_path = path.with_suffix(".json")
    if settings_path.is_file():
        try:
            settings = json.loads(settings_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ConfigError(
                f"The settings file {str(settings_path)!r} beside method.scores_file is not JSON; "
                "rewrite both with `retain memorization`, or delete the .json."
            ) from None
        if not isinstance(settings, dict):
            settings = {}
        if settings.get("dataset") not in (None, dataset_name):
            raise ConfigError(
                f"method.scores_file={str(path)!r} holds scores of dataset {settings.get('dataset')!r}, "
                f"but this run trains on {dataset_name!r}; compute scores for {dataset_name!r}."
            )
    if scores.ndim != 1 or scores.shape[0] != num_samples:
        raise ConfigError(
            f"method.scores_file={str(path)!r} holds {scores.shape} scores, but the training split of "
            f"{dataset_name!r} has {num_samples} samples; one score per training sample is needed."
        )
    missing = int(np.count_nonzero(~np.isfinite(scores))) if scores.dtype.kind == "f" else 0
    if missing:  # a NaN sorts anywhere: the selection would be arbitrary
        raise ConfigError(
            f"method.scores_file={str(path)!r} holds {missing} score(s) that are NaN or infinite (of {scores.shape[0]}); "
            "every training sample needs a finite score: recompute them with `retain memorization`."
        )
    return torch.from_numpy(scores.astype(np.float32))


class MemorizationParams(MethodParams):
    """`scores_file`: select from saved memorization scores (`retain memorization`) instead of
    the online proxy; `longtail_fraction`: share of the buffer kept for the highest-proxy
    samples (maer_high; 0 = off)."""

    scores_file: str | None = None
    longtail_fraction: float = Field(0.0, ge=0, lt=1)
    maer_policy: Literal["min", "middle", "max"] = Field(
        "min", description="Which memorization samples per class rewrite the task's slots: lowest, middle or highest.")
    maer_middle: Literal["clamp", "wrap"] = Field(
        "clamp", description="maer_policy=middle when a class has fewer candidates than its quota: clamp (every "
        "candidate) or wrap (the official numpy slice, whose negative start returns the high end; spec §11).")


class MemorizationSelection:
    """MAER's add-on to a streaming replay method (`memory.policy: maer`): the proxy (or saved
    scores), the rewrite of the current task's slots at task end, and maer_high's long-tail area."""

    def __init__(self, ctx, params: MemorizationParams) -> None:
        self.ctx = ctx
        self.params = params
        self.proxy = MemorizationProxy(ctx.dataset.train.labels.numel(), ctx.dataset.train.labels.device)
        self.scores = None
        if params.scores_file is not None:
            self.scores = load_memorization_scores(params.scores_file, ctx.dataset.name, self.proxy.stamps.numel())
        self.longtail_fraction = params.longtail_fraction
        self.longtail_rows = 0
        self.selection_log: list[dict[str, Any]] = []

    def observe(self, batch: Batch, stream_logits: torch.Tensor, dist) -> None:
        """Proxy bookkeeping from the pre-step logits of the batch's stream rows."""
        if self.scores is not None:
            return
        correct = stream_logits.detach().argmax(dim=1) == batch.stream_part(batch.labels)
        indices = batch.stream_part(batch.indices)
        if dist is not None:  # a rank's shard: the whole batch's rows, in batch order, on every rank
            indices, correct = dist.gather_rows(indices), dist.gather_rows(correct)
        self.proxy.observe(indices, correct)

    def ordered_candidates(self, task: TaskSpec) -> torch.Tensor:
        """The task's samples in increasing memorization: the proxy list, or saved scores."""
        if self.scores is None:
            return self.proxy.ordered()[0]
        indices = torch.as_tensor(task.train_indices, dtype=torch.int64)
        return indices[torch.argsort(self.scores[indices], stable=True)]

    def rewrite_task_slots(self, method, task: TaskSpec) -> torch.Tensor:
        """Overwrite the current task's reservoir slots with the MAER selection (§5.3)."""
        capacity = method.memory.stream_capacity
        classes = sorted(int(c) for c in task.new_classes)
        quotas = maer_quotas(capacity, task.index + 1, classes)
        ordered = self.ordered_candidates(task)
        labels = self.ctx.train_labels(ordered)
        chosen = maer_select(ordered, labels, quotas, self.params.maer_policy, self.params.maer_middle)
        images = self.ctx.train_images(chosen)
        slots = write_back(
            method.memory.store, classes, images, self.ctx.train_labels(chosen), task=task.index,
            extras=method.stored_extras(images), limit=capacity,
        )
        self.selection_log.append({"task": task.index, "listed": int(ordered.numel()), "selected": int(chosen.numel()), "written": int(slots.numel())})
        return slots

    def add_longtail(self, method, task: TaskSpec) -> None:
        """maer_high: the highest-proxy samples of each new class take over reservoir slots of
        the most frequent class and leave the reservoir for a long-tail area at the end."""
        capacity = method.memory.stream_capacity
        total = capacity + self.longtail_rows
        per_class = int(total * self.longtail_fraction / self.ctx.plan.num_classes)
        if per_class < 1:
            raise ConfigError(
                f"method.longtail_fraction={self.longtail_fraction} of a {total}-row buffer gives less than one "
                f"long-tail row for each of {self.ctx.plan.num_classes} classes; raise it or the budget."
            )
        ordered = self.ordered_candidates(task)
        labels = self.ctx.train_labels(ordered)
        quotas = {int(c): per_class for c in sorted(task.new_classes)}
        chosen = maer_select(ordered, labels, quotas, "max")
        store = method.memory.store
        victims = longtail_victims(store.labels[:capacity], chosen.numel(), method.memory.generator)
        count = len(victims)
        if count == 0:
            return
        images = self.ctx.train_images(chosen[:count])
        store.replace(torch.tensor(victims), images, self.ctx.train_labels(chosen[:count]), task=task.index,
                      extras=method.stored_extras(images))
        front = [s for s in range(capacity) if s not in set(victims)]
        store.keep(torch.tensor(front + victims + list(range(capacity, len(store))), dtype=torch.int64))
        method.memory.set_aside(count)
        self.longtail_rows += count

    def state_dict(self) -> dict[str, Any]:
        return {"proxy": self.proxy.state_dict(), "longtail_rows": self.longtail_rows,
                "selection_log": list(self.selection_log)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.proxy.load_state_dict(state["proxy"])
        self.longtail_rows = int(state["longtail_rows"])
        self.selection_log = list(state["selection_log"])
