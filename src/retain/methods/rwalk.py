"""RWalk as Rainbow Memory ran it (Chaudhry et al. 2018; RM `methods/regularization.py`), with
the path score actually accumulated.

Importance = Fisher + path score. The Fisher is an EMA of squared step gradients (α = 0.5; the
first step sets it). The path score adds, at every step, (g_new − g_old)/(½·F·Δθ² + ε), ε = 1e-3
(RM's formula; `path_score: chaudhry` uses −g·Δθ/(½·F·Δθ² + ε) as in the paper). RM's `_train`
takes g_old right after `optimizer.zero_grad()`, so a snapshot holds zeros and g_old = 0
(`path_score: rm`); `previous_step` uses the previous step's gradient (retain before issue 17). RM's code took
`detach()` views of the weights and gradients, which alias the live tensors, so its score stayed
zero (spec §3.9); here every snapshot is a clone. Across tasks the score is averaged ½·old + ½·new.
The single slot (`online`) follows `scenario.stream`, as for EWC.
A negative score is clamped at 0 so that it never rewards drifting away. Divided by ε = 1e-3
and summed over thousands of steps, the raw score reaches magnitudes that make λ = 100 diverge
(RM never met this because its score was zero), so by default (`normalize: true`) the score is
rescaled so that its largest entry equals the Fisher's largest entry (the scale RM trained with).
`variant: rm-code` is RWalk as RM's code ran: no path score at all, and the importance
consolidated after every training call (docs/methods/rwalk.md).
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field, model_validator

from retain.methods.base import Batch, Phase, register_method
from retain.methods.regularization import RegularizationParams, RegularizedReplay, Tensors, snapshot
from retain.scenarios import TaskSpec


class RWalkParams(RegularizationParams):
    path_score: Literal["rm", "previous_step", "chaudhry"] = Field("rm", description="Path score: RM's (g_new − g_old)/(½·F·Δθ² + ε) with g_old snapshotted after zero_grad (zeros), previous_step with the previous step's gradient as g_old, or the paper's −g·Δθ/(½·F·Δθ² + ε).")
    fisher_alpha: float = Field(0.5, gt=0, le=1, description="EMA weight of the newest squared gradients in the Fisher estimate.")
    epsilon: float = Field(1e-3, gt=0, description="ε in the path score's denominator.")
    normalize: bool = Field(True, description="Rescale the path score so that its largest entry equals the Fisher's largest entry.")
    variant: Literal["paper", "rm-code"] = Field("paper", description="paper: the path score accumulated (path_score) and one consolidation per task; rm-code: as RM's code ran it, a path score that stays zero and a consolidation after every training call.")

    @model_validator(mode="after")
    def _rm_code_has_no_path_score(self) -> "RWalkParams":
        if self.variant == "rm-code":
            defaults = {"path_score": "rm", "normalize": True, "epsilon": 1e-3}
            chosen = sorted(k for k, v in defaults.items() if getattr(self, k) != v)
            if chosen:
                raise ValueError(f"method.variant=rm-code runs RM's path score, which stays zero, so {', '.join('method.' + c for c in chosen)} "
                                 "would have no effect; remove it or use method.variant=paper")
        return self


@register_method("rwalk")
class RWalk(RegularizedReplay):
    """Reservoir replay + λ·Σ (F + s)(θ − θ*)² with the path score s accumulated per step."""

    distributed_refusal = (
        "its path integral reads each parameter's gradient as it is accumulated, before the ranks' gradients "
        "are summed, so every rank would score a different gradient."
    )

    Params = RWalkParams
    persist = ("fisher", "task_score", "score", "fisher_started", "_old_grads")
    free_state = {name: "RWalk's statistics (the Fisher EMA, the path scores, the previous step's gradients), each "
                        "the size of the regularised parameters; left out of the budget as RM's RWalk, whose "
                        "memory_size counts the replayed images only"
                  for name in ("fisher", "task_score", "score", "_old_grads")}

    @property
    def consolidates_every_call(self) -> bool:
        # paper: once per task, after the memory epochs (with the score accumulated, consolidating
        # after the online stream pass too made MNIST seed 1 diverge at lr 0.05, λ = 100, before
        # issue 23's incomplete-batch rule). rm-code: after every training call, as RM's code.
        return self.params.variant == "rm-code"

    def __init__(self, ctx, params: RWalkParams) -> None:
        super().__init__(ctx, params)
        zeros = {n: torch.zeros_like(p) for n, p in self.params_to_regularize.items()}
        self.fisher: Tensors = {n: z.clone() for n, z in zeros.items()}
        self.task_score: Tensors = {n: z.clone() for n, z in zeros.items()}
        self.score: Tensors | None = None  # averaged over tasks
        self.fisher_started = False
        self._grads: Tensors = {}
        self._old_grads: Tensors = {}
        self._old_params: Tensors = snapshot(self.params_to_regularize)
        for name, p in self.params_to_regularize.items():
            # The step's gradient, captured as it is accumulated (the trainer zeroes it before after_step).
            p.register_post_accumulate_grad_hook(lambda param, n=name: self._grads.__setitem__(n, param.grad.detach().clone()))

    def before_phase(self, task: TaskSpec, phase: Phase) -> None:
        super().before_phase(task, phase)
        self._old_params = snapshot(self.params_to_regularize)

    def after_step(self, batch: Batch) -> None:
        a = self.params.fisher_alpha
        new_params = snapshot(self.params_to_regularize)
        # rm-code: RM's code read Δθ and the gradients through views that alias the live tensors
        # (the gradients after zero_grad), so its path score stayed zero; only the Fisher moves.
        if self.params.variant == "paper":
            self._accumulate_path_score(new_params)
        for n, g in self._grads.items():
            self.fisher[n] = g.pow(2) if not self.fisher_started else (1 - a) * self.fisher[n] + a * g.pow(2)
        if self._grads:
            self.fisher_started = True
        self._old_params = new_params
        self._old_grads = self._grads
        self._grads = {}

    def _accumulate_path_score(self, new_params: Tensors) -> None:
        eps = self.params.epsilon
        for n, g in self._grads.items():
            delta = new_params[n] - self._old_params[n]
            denominator = 0.5 * self.fisher[n] * delta.pow(2) + eps
            if self.params.path_score == "rm":
                # g_old is RM's snapshot taken right after zero_grad(): zeros.
                self.task_score[n] += g / denominator
            elif self.params.path_score == "previous_step":
                self.task_score[n] += (g - self._old_grads.get(n, torch.zeros_like(g))) / denominator
            else:
                self.task_score[n] += -g * delta / denominator

    def importance(self, rows: torch.Tensor) -> Tensors:
        if self.score is None:
            self.score = {n: s.clone() for n, s in self.task_score.items()}
        else:
            self.score = {n: 0.5 * self.score[n] + 0.5 * s for n, s in self.task_score.items()}
        for s in self.task_score.values():
            s.zero_()
        score = {n: s.clamp(min=0) for n, s in self.score.items()}
        if self.params.normalize:
            score = _scaled_to_max(score, _peak(self.fisher))
        return {n: self.fisher[n] + score[n] for n in self.fisher}

    def after_restore(self) -> None:
        self._old_params = snapshot(self.params_to_regularize)  # Δθ of the next step is from the restored weights


def _peak(values: Tensors) -> float:
    return max((float(v.max()) for v in values.values() if v.numel()), default=0.0)


def _scaled_to_max(values: Tensors, target: float) -> Tensors:
    """Every tensor rescaled so that the largest entry over all of them is `target` (unchanged when all are 0)."""
    peak = _peak(values)
    return {n: v * (target / peak) for n, v in values.items()} if peak > 0 else values
