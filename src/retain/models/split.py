"""Backbones cut into a generalized (shared) and a specialized (per-task) part, for MEMO."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class SplitBackbone:
    """A backbone cut in two: `generalized` is built once and shared; `make_specialized()`
    builds a fresh specialized block (one per task in MEMO) mapping the generalized feature
    map (`generalized_channels` channels) to a `feature_dim`-d vector."""

    generalized: nn.Module
    make_specialized: Callable[[], nn.Module]
    feature_dim: int
    generalized_channels: int


class ComposedBackbone(nn.Module):
    """A full backbone made of its generalized part followed by one specialized part.

    Building every splittable backbone this way makes the split exact by construction:
    the full parameter count is generalized + specialized.
    """

    def __init__(self, split: SplitBackbone) -> None:
        super().__init__()
        self.generalized = split.generalized
        self.specialized = split.make_specialized()
        self.out_dim = split.feature_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.specialized(self.generalized(x))
