"""Label arrays as plans need them: validated int64 numpy, and index look-ups by class."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from retain.errors import DatasetError

LabelsLike = np.ndarray | torch.Tensor | Sequence[int]


def label_array(labels: LabelsLike, num_classes: int, split: str) -> np.ndarray:
    """The labels of one split as a 1-D int64 numpy array, checked to lie in 0..num_classes-1."""
    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu().numpy()
    array = np.asarray(labels)
    if array.ndim != 1 or (array.size and not np.issubdtype(array.dtype, np.integer)):
        raise DatasetError(
            f"The {split} labels have shape {array.shape} and dtype {array.dtype}; a scenario "
            f"needs a 1-D array of integer class ids in 0..{num_classes - 1}."
        )
    array = array.astype(np.int64, copy=False)
    if array.size and (array.min() < 0 or array.max() >= num_classes):
        raise DatasetError(
            f"The {split} labels range from {array.min()} to {array.max()}, but the dataset "
            f"declares {num_classes} classes; every label must lie in 0..{num_classes - 1}."
        )
    return array


def indices_of_classes(labels: np.ndarray, classes: Sequence[int]) -> np.ndarray:
    """Sorted int64 indices of the samples whose (original) label is one of `classes`."""
    return np.flatnonzero(np.isin(labels, np.asarray(list(classes), dtype=np.int64))).astype(np.int64)
