"""IL2M: fine-tuning with exemplars plus a second memory of class statistics that rectifies
the scores of past classes at test time (Belouadah & Popescu, ICCV 2019; spec §4)."""

from __future__ import annotations

from typing import Any

import torch
from pydantic import Field

from retain.budget import float32_bytes
from retain.methods.base import MethodParams, Phase, Prediction, register_method
from retain.methods.exemplar import ExemplarMethod
from retain.scenarios import TaskSpec


# The score set of IL2M's rectified predictions (results.json, reports); "cnn" stays the logits.
RECTIFIED = "il2m"


class IL2MParams(MethodParams):
    """`rectify: false` gives IL2M's "FT" baseline (same training, raw scores, no statistics
    charged); `lr_by_state` divides the base lr by the state number b (lr = base / b);
    `epsilon` is the guard threshold below which a statistic counts as non-positive."""

    rectify: bool = True
    lr_by_state: bool = True
    reset_head: bool = Field(True, description="A fresh head over the seen classes at every task.")
    epsilon: float = Field(1e-8, ge=0)


def rectification_ratio(
    mu_init: torch.Tensor,
    mu_cur: torch.Tensor,
    conf_first: torch.Tensor,
    conf_now: float,
    past: torch.Tensor,
    epsilon: float = 1e-8,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-class multiplier (μ_init/μ_cur)·(conf_now/conf_first) for past classes, 1 elsewhere.

    Returns (ratio, guarded): `guarded` marks past classes whose rectification is skipped
    because μ_cur ≤ ε or a confidence ≤ ε would flip the sign or blow up the ratio (§4.6).
    """
    conf_now_t = torch.full_like(mu_cur, float(conf_now))
    guarded = past & ((mu_cur <= epsilon) | (conf_first <= epsilon) | (conf_now_t <= epsilon))
    apply = past & ~guarded
    ratio = torch.ones_like(mu_cur)
    ratio[apply] = (mu_init[apply] / mu_cur[apply]) * (conf_now_t[apply] / conf_first[apply])
    return ratio, guarded


def rectify_scores(scores: torch.Tensor, ratio: torch.Tensor, new: torch.Tensor) -> torch.Tensor:
    """IL2M's Eq. 1: rows whose raw top-1 is a new class get their scores multiplied by `ratio`
    (1 for new classes); rows that already predict a past class are returned unchanged."""
    predicts_new = new[scores.argmax(dim=1)]
    return torch.where(predicts_new[:, None], scores * ratio.to(scores.dtype), scores)


@register_method("il2m")
class IL2M(ExemplarMethod):
    """IL2M: fine-tuning on task data ∪ exemplars (head re-initialised, lr = base/b), past-class
    scores rectified with per-class statistics from the state each class was first learned."""

    score_labels = {RECTIFIED: "IL2M-rectified CNN", "cnn": "raw CNN (before rectification)"}

    Params = IL2MParams
    primary_score = RECTIFIED  # with method.rectify=false there are only the logits: "cnn"
    default_policy = "random"  # the official lists are pre-built, probably random per class (§4.2)
    persist = ("mu_init", "mu_cur", "class_state", "confidence", "guard_events")
    # IL2M's second memory (§4.4): the means and confidences, and the state each class was first learned in
    charged_state = {name: ("class_statistics",) for name in ("mu_init", "mu_cur", "confidence", "class_state")}

    blurry_refusal = ("IL2M rectifies the scores of past classes with statistics from the state in which each class "
                      "was first learned, and a blurry split shows every class in every task, so no class is past; "
                      "use scenario.kind=class-incremental.")

    def __init__(self, ctx, params: IL2MParams) -> None:
        num_classes = ctx.plan.num_classes
        self.mu_init = torch.zeros(num_classes)          # μ_init(c), fixed at c's first state
        self.mu_cur = torch.zeros(num_classes)           # μ_cur(c), from exemplars at the current state
        self.class_state = torch.full((num_classes,), -1, dtype=torch.int64)  # s(c)
        self.confidence: list[float] = []                # conf(s) per state
        self.guard_events: list[dict[str, Any]] = []
        super().__init__(ctx, params)

    # ------------------------------------------------------------------ budget
    def extra_ledger_items(self) -> dict[str, int]:
        if not self.params.rectify:
            return {}
        # The second memory: one float per class learned so far plus one per state (§4.4).
        classes = int((self.class_state >= 0).sum())
        return {"class_statistics": float32_bytes(classes + len(self.confidence))}

    def charged_bytes(self) -> int:
        """The second memory at its largest (every class and state of the run): a streaming
        memory fixes its row capacity at its first insertion, before any statistic exists, so
        reserving only what is stored now would let the statistics push the total over the budget."""
        if not self.params.rectify:
            return 0
        return float32_bytes(self.ctx.plan.num_classes + len(self.ctx.plan.tasks))

    # ------------------------------------------------------------------ training
    def before_task(self, task: TaskSpec) -> None:
        super().before_task(task)
        if task.index > 0 and self.params.reset_head:
            # A freshly initialised FC over old + new classes; the old rows are not kept (§4.3).
            self.network.head.reset(self.head_width(task))
            self.network.head.to(self.ctx.device)

    def training_phases(self, task: TaskSpec) -> list[Phase]:
        phases = super().training_phases(task)
        if self.params.lr_by_state and task.index > 0:
            for phase in phases:
                phase.lr = self.ctx.settings.train.lr / (task.index + 1)
        return phases

    # ------------------------------------------------------------------ statistics
    def after_task(self, task: TaskSpec) -> None:
        if self.params.rectify:
            self._update_statistics(task)
        super().after_task(task)

    def _raw_logits(self, images: torch.Tensor) -> torch.Tensor:
        """Raw logits (no softmax) with the evaluation transform."""
        return self.ctx.forward_eval(self.network, images)["logits"].float().cpu()

    def _update_statistics(self, task: TaskSpec) -> None:
        """μ_init and conf from the new classes' full training data; μ_cur of past classes
        from the exemplars they were trained with in this state (before the memory update)."""
        indices = torch.as_tensor(task.train_indices)
        labels = self.ctx.train_labels(indices).cpu()
        logits = self._raw_logits(self.ctx.train_images(indices))
        for c in task.new_classes:
            rows = labels == c
            if bool(rows.any()):
                self.mu_init[c] = logits[rows, c].mean()
            self.class_state[c] = task.index
        self.confidence.append(float(logits.max(dim=1).values.mean()) if logits.numel() else 0.0)
        store = self.memory.store
        if len(store):
            memory_labels = store.labels.cpu()
            memory_logits = self._raw_logits(store.gather(torch.arange(len(store))))
            new = set(int(c) for c in task.new_classes)
            for c in torch.unique(memory_labels).tolist():
                if c not in new:
                    self.mu_cur[c] = memory_logits[memory_labels == c, c].mean()
        self._log_guard(task)

    def _ratio(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(ratio, guarded, new-class mask) over the head's classes at the current state."""
        width = self.network.head.num_classes
        state = len(self.confidence) - 1
        seen_state = self.class_state[:width]
        past = (seen_state >= 0) & (seen_state < state)
        new = seen_state == state
        conf_first = torch.tensor([self.confidence[s] if s >= 0 else 1.0 for s in seen_state.tolist()])
        ratio, guarded = rectification_ratio(
            self.mu_init[:width], self.mu_cur[:width], conf_first, self.confidence[state], past, self.params.epsilon
        )
        return ratio, guarded, new

    def _log_guard(self, task: TaskSpec) -> None:
        if task.index == 0:
            return
        _, guarded, _ = self._ratio()
        classes = torch.nonzero(guarded).flatten().tolist()
        if classes:
            self.guard_events.append({"task": task.index, "classes": classes})
            self.ctx.log(
                f"il2m: rectification skipped for {len(classes)} past class(es) {classes} at task {task.index + 1} "
                "(non-positive μ_cur or confidence)"
            )

    # ------------------------------------------------------------------ evaluation
    @torch.inference_mode()
    def predict(self, images: torch.Tensor) -> Prediction:
        prediction = super().predict(images)
        if not self.params.rectify:
            return prediction
        # The logits stay the "cnn" score set; the rectified scores are their own set, "il2m" (the
        # logits themselves in the first state, which has no past classes, so its matrix is full).
        raw = prediction.logits
        rectified = raw
        if len(self.confidence) >= 2:
            ratio, _, new = self._ratio()
            rectified = rectify_scores(raw.float(), ratio.to(raw.device), new.to(raw.device))
        prediction.scores[RECTIFIED] = rectified
        return prediction

    def extra_results(self) -> dict[str, Any]:
        if not self.params.rectify:
            return {}
        return {
            "il2m_guard_fired": sum(len(e["classes"]) for e in self.guard_events),
            "il2m_guard_events": self.guard_events,
            "il2m_confidence": list(self.confidence),
        }
