"""What the engine needs of a method: the hooks it calls, as a typing Protocol.

The engine drives any object with these members; `retain.methods.Method` is the base class that
implements them. Typing against this Protocol keeps the engine below the methods: it never
imports `retain.methods`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import torch
from torch import nn

from retain.engine.batch import Batch, Phase, Prediction

if TYPE_CHECKING:
    from retain.scenarios import TaskSpec


class TrainableMethod(Protocol):
    """The engine's view of a method (see docs/internals.md, "retain.methods", for the full contract).

    A method may also have a `memory` attribute with a `store`: the trainer then draws replay rows
    from it for phases whose `memory` is "concat" or "batch".
    """

    network: nn.Module
    primary_score: str

    def training_phases(self, task: TaskSpec) -> list[Phase]: ...

    def before_phase(self, task: TaskSpec, phase: Phase) -> None: ...

    def trainable_parameters(self) -> list[nn.Parameter] | list[dict[str, Any]]: ...

    def training_loss(self, batch: Batch) -> torch.Tensor | tuple[torch.Tensor, dict[str, torch.Tensor]]: ...

    def after_step(self, batch: Batch) -> None: ...

    def predict(self, images: torch.Tensor) -> Prediction: ...
