"""Joint training: the upper bound, one training on all the data of every task.

`training: once` (default) trains a single time, at the first task, on the union of every task's
training rows with a head over all classes, for `train.epochs` (the first task's recipe); later
tasks add no training, and each evaluation scores the classes seen so far with that one model, so
the last row is the joint accuracy (Rainbow Memory `main.py` stops joint after its only task;
mammoth's `joint` trains once on everything). `training: cumulative` is the earlier behaviour,
kept as a named option: at every task it continues from the previous weights on the union of
the data seen so far.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

from retain.methods.base import Method, MethodParams, Phase, Prediction, grow_head_to, register_method
from retain.scenarios import TaskSpec


class JointParams(MethodParams):
    """`training`: `once` (one training on all data) or `cumulative` (retrain at every task on the
    growing union, starting from the previous weights)."""

    training: Literal["once", "cumulative"] = "once"


@register_method("joint")
class Joint(Method):
    """Trains on every training sample (no memory limit); ignores `scenario.stream` (RM runs joint offline)."""

    Params = JointParams
    free_state = {"seen_indices": "the dataset indices of every sample seen so far: joint training has no memory "
                                  "limit by definition (the upper bound every method is compared with)"}
    supports_head_norm = True  # model.head_norm: batchnorm is RM's head for this method

    @property
    def once(self) -> bool:
        return self.params.training == "once"

    def before_task(self, task: TaskSpec) -> None:
        self.current_task = task
        grow_head_to(self.network, self.ctx.plan.num_classes if self.once else self.head_width(task))

    def training_phases(self, task: TaskSpec) -> list[Phase]:
        if self.once:
            if task.index > 0:
                return []
            everything = np.sort(np.concatenate([np.asarray(t.train_indices) for t in self.ctx.plan.tasks]))
            return [Phase(stream=torch.as_tensor(everything), epochs=self.ctx.epochs_for(task))]
        seen = [np.asarray(t.train_indices) for t in self.ctx.plan.tasks[: task.index + 1]]
        union = np.sort(np.concatenate(seen))
        return [Phase(stream=torch.as_tensor(union), epochs=self.ctx.epochs_for(task))]

    @torch.inference_mode()
    def predict(self, images: torch.Tensor) -> Prediction:
        prediction = super().predict(images)
        if self.once and self.current_task is not None:
            # Score only the classes seen so far, as an incremental model would.
            prediction.logits = prediction.logits[:, : len(self.current_task.seen_classes)]
        return prediction
