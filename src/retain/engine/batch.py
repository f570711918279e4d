"""The data the engine hands a method and gets back: training phases, batches, predictions.

They belong to the engine (it makes batches and reads predictions); methods import them from
here (or from retain.methods, which re-exports them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch

from retain.augment import CutMixResult

# Phase names of the online protocol (`scenario.stream: online`): one pass over the stream, then
# epochs over the memory only (the memory is updated in between).
STREAM_PASS = "stream"
MEMORY_EPOCHS = "memory"


@dataclass
class Phase:
    """One stretch of training inside a task: which rows feed the batches, and for how long.

    `stream` holds indices into the training split that are iterated once per epoch.
    `memory` says how memory rows take part: not at all, mixed into the shuffled pool
    ("concat", iCaRL/LUCIR style), or as an extra minibatch drawn for every step
    ("batch", experience-replay style).
    """

    stream: torch.Tensor
    epochs: int
    memory: Literal["none", "concat", "batch"] = "none"
    memory_batch_size: int = 0
    batch_size: int | None = None
    name: str = "train"
    fresh_optimizer: bool = True
    lr: float | None = None


@dataclass
class Batch:
    """A training batch after gathering and augmentation."""

    images: torch.Tensor          # float, augmented and normalised
    labels: torch.Tensor          # int64, remapped label space
    raw: torch.Tensor             # uint8 rows before augmentation
    from_memory: torch.Tensor     # bool mask: row came from the memory
    indices: torch.Tensor         # dataset index for stream rows, memory slot for memory rows
    extras: dict[str, torch.Tensor] = field(default_factory=dict)  # memory columns of the memory rows
    step: int = 0                 # optimiser steps taken in this task so far
    mix: CutMixResult | None = None  # set when augment.cutmix pasted a box into `images`
    # Rows 0..stream_rows-1 come from the stream, the rest from the memory (None: see from_memory).
    stream_rows: int | None = None

    def stream_part(self, values: torch.Tensor) -> torch.Tensor:
        """The rows of `values` (one per batch row) that came from the stream.

        A slice when `stream_rows` is known: a boolean mask would make a GPU wait for it."""
        if self.stream_rows is not None:
            return values[: self.stream_rows]
        return values[~self.from_memory]

    def memory_part(self, values: torch.Tensor) -> torch.Tensor:
        """The rows of `values` (one per batch row) that came from the memory."""
        if self.stream_rows is not None:
            return values[self.stream_rows :]
        return values[self.from_memory]


@dataclass
class Prediction:
    """What a method answers for a batch of evaluation images."""

    logits: torch.Tensor                    # (N, seen classes): the "cnn" scores
    features: torch.Tensor | None = None    # penultimate features (for NME and statistics)
    scores: dict[str, torch.Tensor] = field(default_factory=dict)  # other score sets, e.g. "nme"
