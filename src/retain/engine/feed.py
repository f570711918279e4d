"""The stream rows of training batches: gathered by index, or decoded ahead of the step.

An in-memory split gives its rows by `index_select`. An encoded split (data/encoded.py) decodes
them on CPU threads: `plan` hands the feed an epoch's stream batches in order, and it keeps
`lookahead` of them decoding while the step runs. RandomResizedCrop boxes are drawn from the
augmenter's crop generator when a batch is submitted (always in batch order, so a run and its
resume draw alike) and cut while decoding. In a distributed run each rank decodes only its
share of a batch's rows and the ranks exchange the decoded rows.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import torch

from retain.augment import Augmenter
from retain.data import ImageSplit


class StreamFeed:
    """uint8 stream rows for `rows(indices)`; for an encoded split, decoded `lookahead` batches ahead."""

    def __init__(self, split: ImageSplit, augmenter: Augmenter, group: Any = None, lookahead: int = 2) -> None:
        self.split, self.augmenter, self.group, self.lookahead = split, augmenter, group, lookahead
        self.encoded = split.is_encoded
        self.crop = augmenter.config.resized_crop and self.encoded
        self._queue: deque[tuple[torch.Tensor, Future]] = deque()
        self._pending: deque[torch.Tensor] = deque()
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="retain-feed") if self.encoded else None

    def plan(self, batches: list[torch.Tensor]) -> None:
        """The stream indices of the coming batches, in order (an encoded split starts decoding them)."""
        if not self.encoded:
            return
        self._queue.clear()
        self._pending = deque(batches)
        self._top_up()

    def rows(self, indices: torch.Tensor) -> tuple[torch.Tensor, bool]:
        """(uint8 rows of `indices`, whether RandomResizedCrop was already applied to them)."""
        if not self.encoded:
            return self.split.images.index_select(0, indices), False
        while self._queue and self._queue[0][0] is not indices:
            self._queue.popleft()  # a batch the epoch skipped (too small for BatchNorm)
        if not self._queue:  # skipped past the look-ahead: find it among the planned ones
            while self._pending and self._pending[0] is not indices:
                self._pending.popleft()
            if self._pending:
                self._submit()
        if self._queue:
            local = self._queue.popleft()[1].result()
        else:  # not planned: decode now
            local = self._decode(indices, self._boxes(indices))
        self._top_up()
        return self._exchange(local), self.crop

    # ------------------------------------------------------------------ internals
    def _top_up(self) -> None:
        while self._pending and len(self._queue) < self.lookahead:
            self._submit()

    def _submit(self) -> None:
        indices = self._pending.popleft()
        boxes = self._boxes(indices)  # drawn here, on the calling thread, in batch order
        self._queue.append((indices, self._thread.submit(self._decode, indices, boxes)))

    def _boxes(self, indices: torch.Tensor) -> torch.Tensor | None:
        if not self.crop:
            return None
        return self.augmenter.crop_boxes(*self.split.images.sizes(indices))

    def _decode(self, indices: torch.Tensor, boxes: torch.Tensor | None) -> torch.Tensor:
        start, stop = (0, indices.numel()) if self.group is None else self.group.bounds(indices.numel())
        part = None if boxes is None else boxes[start:stop]
        return self.split.images.crops(indices[start:stop], part)

    def _exchange(self, local: torch.Tensor) -> torch.Tensor:
        """Every rank's decoded share, concatenated in rank order: the whole batch."""
        return local if self.group is None else self.group.gather_rows(local)
