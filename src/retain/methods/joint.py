"""Joint training: the upper bound. Each task trains on the union of all data seen so far."""

from __future__ import annotations

import numpy as np
import torch

from retain.methods.base import Method, Phase, register_method
from retain.scenarios import TaskSpec


@register_method("joint")
class Joint(Method):
    """Trains on every training sample of every task seen so far (no memory limit)."""

    def __init__(self, ctx, params) -> None:
        super().__init__(ctx, params)
        self._seen_indices: list[np.ndarray] = []

    def training_phases(self, task: TaskSpec) -> list[Phase]:
        self._seen_indices.append(np.asarray(task.train_indices))
        union = np.sort(np.concatenate(self._seen_indices))
        return [Phase(stream=torch.as_tensor(union), epochs=self.ctx.epochs_for(task))]

    def state_dict(self):
        state = super().state_dict()
        state["seen_indices"] = [torch.as_tensor(i) for i in self._seen_indices]
        return state

    def load_state_dict(self, state) -> None:
        super().load_state_dict(state)
        self._seen_indices = [t.numpy() for t in state["seen_indices"]]
