"""Task-incremental scoring: the task of each test sample is known, so only its task's classes compete."""

from __future__ import annotations

import torch

TASK_AWARE_SUFFIX = "-til"  # "cnn-til": the cnn scores, masked to each sample's task


def mask_to_own_task(scores: torch.Tensor, class_task: torch.Tensor, label_task: torch.Tensor) -> torch.Tensor:
    """`scores` (N, K) with every class outside the sample's own task set to -inf.

    `class_task[k]` is the task that introduced class k, `label_task[i]` the task of sample i.
    The argmax of the result is the task-incremental prediction (higher score = more likely).
    """
    columns = class_task[: scores.shape[1]].to(scores.device)
    foreign = columns[None, :] != label_task.to(scores.device)[:, None]
    return scores.masked_fill(foreign, float("-inf"))
