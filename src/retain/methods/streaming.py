"""Streaming replay: the base of ER-style methods whose buffer is filled during training
(reservoir policies), with MAER's memorization-aware selection as an optional add-on.

ER-ACE, DER++ and MAER differ in their loss; what they share is here: a streaming memory policy,
the hook through which a loss reports its stream logits (`track`), the memory columns written
with a row (`stored_extras`), and, under `memory.policy: maer`, a `MemorizationSelection`
(methods/memorization_proxy.py) that rewrites the task's buffer slots at task end.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from retain.errors import ConfigError
from retain.methods.base import Batch
from retain.methods.exemplar import ExemplarMethod
from retain.methods.memorization_proxy import MemorizationParams, MemorizationSelection
from retain.scenarios import TaskSpec


class StreamingReplay(ExemplarMethod):
    """Replay from a buffer filled during training; with `memory.policy: maer` its current-task
    slots are rewritten at each task end with the lowest (`min`), middle or highest (`max`)
    memorization samples per class (`method.maer_policy`). Subclasses call `track` with their
    stream logits."""

    Params = MemorizationParams
    default_policy = "reservoir"
    # How `memory.policy: maer` inserts during a task for this method (the paper's code): a
    # balanced reservoir for ER (maer.py), a plain reservoir for DER++ (maer_derpp.py).
    maer_insertion: ClassVar[str] = "balanced_reservoir"
    persist = ("memorization",)
    free_state = {"memorization": "MAER's memorization proxy, a learning stamp per training sample that ranks "
                                  "the candidates at task end; MAER's buffer size counts the stored samples only"}

    def __init__(self, ctx, params: MemorizationParams) -> None:
        super().__init__(ctx, params)
        if not self.streaming:
            raise ConfigError(
                f"method.name={self.name!r} replays a buffer filled during training, so memory.policy must be a "
                f"streaming policy (reservoir, balanced_reservoir or maer), not {self.memory.policy.name!r}."
            )
        self.memorization: MemorizationSelection | None = None
        if self.memory.policy.name == "maer":
            self.memorization = MemorizationSelection(ctx, params)

    def policy_options(self, policy: str) -> dict[str, Any]:
        return {"balanced": self.maer_insertion == "balanced_reservoir"} if policy == "maer" else {}

    def check_setup(self) -> None:
        super().check_setup()
        memory = self.ctx.settings.memory
        if self.params.scores_file is not None and self.memorization is None:
            raise ConfigError(
                f"method.scores_file={self.params.scores_file!r} is read by MAER's selection only, which needs "
                f"memory.policy='maer' (now {memory.policy!r}); set memory.policy=maer, or remove method.scores_file."
            )
        chosen = {"maer_policy": self.params.maer_policy, "maer_middle": self.params.maer_middle}
        if self.memorization is None and chosen != {"maer_policy": "min", "maer_middle": "clamp"}:
            raise ConfigError(
                f"method.maer_policy={chosen['maer_policy']!r} / method.maer_middle={chosen['maer_middle']!r} choose "
                f"MAER's selection, which needs memory.policy='maer' (now {memory.policy!r}); set memory.policy=maer, "
                "or remove them."
            )
        if self.params.longtail_fraction > 0 and (self.memorization is None or memory.codec != "raw"):
            raise ConfigError(
                f"method.longtail_fraction={self.params.longtail_fraction} needs memory.policy='maer' and "
                f"memory.codec='raw' (now {self.memory.policy.name!r}, {memory.codec!r}); "
                "set method.longtail_fraction=0 otherwise."
            )

    # ------------------------------------------------------------------ training
    def before_task(self, task: TaskSpec) -> None:
        super().before_task(task)
        if self.memorization is not None:
            self.memorization.proxy.reset()

    def track(self, batch: Batch, stream_logits: torch.Tensor) -> None:
        """Report the pre-step logits of the batch's stream rows (MAER's proxy reads them)."""
        if self.memorization is not None:
            self.memorization.observe(batch, stream_logits, self.ctx.dist)

    def stored_extras(self, images: torch.Tensor) -> dict[str, torch.Tensor] | None:
        """Memory columns for rows written at task end (DER++: their logits)."""
        return None

    # ------------------------------------------------------------------ task end
    def after_task(self, task: TaskSpec) -> None:
        if self.memorization is not None and self.memory.stream_capacity is not None:
            self.memorization.rewrite_task_slots(self, task)
            if self.params.longtail_fraction > 0:
                self.memorization.add_longtail(self, task)
        super().after_task(task)

    def extra_results(self) -> dict[str, Any]:
        log = self.memorization.selection_log if self.memorization is not None else []
        return {"maer_selection": log} if log else {}
