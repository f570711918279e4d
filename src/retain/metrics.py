"""Continual-learning metrics: pure functions of the stored accuracies (spec §0.3).

An accuracy matrix has one row per task: row t is measured after training task t, column j is
the accuracy (percent) on task j's classes. Entries above the diagonal (j > t) may be NaN/None
(not evaluated yet) or real values (blurry runs test every class from task 1 on); rows may also
be ragged lists that stop at the diagonal. Stage accuracies are A_t, the accuracy on all classes
seen after task t.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from retain.errors import ConfigError

MatrixLike = np.ndarray | Sequence[Sequence[float | None]]


def as_accuracy_matrix(matrix: MatrixLike) -> np.ndarray:
    """The matrix as a square float array, NaN where nothing was measured.

    Refuses a matrix that is empty, wider than tall, or missing an entry on or below the diagonal.
    """
    rows = [[np.nan if v is None else float(v) for v in row] for row in matrix]
    num_tasks = len(rows)
    if num_tasks == 0 or any(len(row) > num_tasks for row in rows):
        raise ConfigError(
            f"The accuracy matrix has {num_tasks} rows of lengths {[len(r) for r in rows]}; it "
            f"must have one row per task (T >= 1) and at most T columns (one per task)."
        )
    array = np.full((num_tasks, num_tasks), np.nan)
    for t, row in enumerate(rows):
        array[t, : len(row)] = row
    lower = np.tril(np.ones_like(array, dtype=bool))
    if not np.isfinite(array[lower]).all():
        t, j = np.argwhere(lower & ~np.isfinite(array))[0]
        raise ConfigError(
            f"The accuracy matrix entry a[{t}][{j}] (row = after task {t + 1}, column = task "
            f"{j + 1}) is missing or not finite; every entry on or below the diagonal must be a "
            f"measured accuracy."
        )
    return array


def average_incremental_accuracy(stage_accuracy: Sequence[float], include_first: bool = True) -> float:
    """Mean of the stage accuracies A_t. IL2M (after Castro et al.) leaves the first state out:
    `include_first=False`; with a single stage that mean is empty and the result is NaN.
    """
    stages = _stages(stage_accuracy)
    kept = stages if include_first else stages[1:]
    return float(kept.mean()) if kept.size else float("nan")


def last_accuracy(stage_accuracy: Sequence[float]) -> float:
    """A_T, the accuracy on all classes after the last task."""
    return float(_stages(stage_accuracy)[-1])


def forgetting(matrix: MatrixLike) -> float:
    """Rainbow Memory's F_last (`main.py`): mean over old tasks j < T of the best accuracy in an
    earlier row, max_{t<T} a[t][j], minus a[T][j]; divisor T-1. 0 when T = 1.

    The earlier rows include those before task j wherever they were measured (blurry runs test
    every class from task 1 on); on disjoint runs only rows t >= j exist. Unlike mammoth's
    `forgetting` (see `forgetting_mammoth`) the final row is not part of the maximum, so a task
    whose accuracy rose at the end contributes a negative term.
    """
    a = as_accuracy_matrix(matrix)
    num_tasks = len(a)
    if num_tasks == 1:
        return 0.0
    best_before = np.nanmax(a[:-1, :-1], axis=0)
    return float(np.mean(best_before - a[-1, :-1]))


def forgetting_mammoth(matrix: MatrixLike) -> float:
    """mammoth's `utils/metrics.py` forgetting: mean over old tasks j < T of max_t a[t][j] over
    every row, the final one included, minus a[T][j]; divisor T-1, never negative. 0 when T = 1."""
    a = as_accuracy_matrix(matrix)
    num_tasks = len(a)
    if num_tasks == 1:
        return 0.0
    best = np.nanmax(a[:, :-1], axis=0)
    return float(np.mean(best - a[-1, :-1]))


def forgetting_fm(matrix: MatrixLike) -> float:
    """The memorization paper's FM: (1/T) sum over all tasks j of max_t a[t][j] - a[T][j].

    The maximum includes the final row and the sum the last task (whose term is 0), and the
    divisor is T, so FM = forgetting * (T-1)/T when no accuracy rose at the end.
    """
    a = as_accuracy_matrix(matrix)
    return float(np.sum(np.nanmax(a, axis=0) - a[-1]) / len(a))


def backward_transfer(matrix: MatrixLike) -> float:
    """Mean over old tasks j < T of a[T][j] - a[j][j] (negative when the model forgets). 0 when T = 1."""
    a = as_accuracy_matrix(matrix)
    if len(a) == 1:
        return 0.0
    return float(np.mean(a[-1, :-1] - np.diag(a)[:-1]))


def intransigence(joint_accuracy: float, last: float) -> float:
    """Rainbow Memory's I_last: accuracy of joint training minus the last accuracy."""
    return float(joint_accuracy) - float(last)


def auc(budgets_mb: Sequence[float], accuracies_fraction: Sequence[float]) -> float:
    """MEMO's AUC-A / AUC-L: trapezoid-rule area of accuracy (fraction in [0, 1]) over budget (MB)."""
    x = np.asarray(budgets_mb, dtype=float)
    y = np.asarray(accuracies_fraction, dtype=float)
    if x.ndim != 1 or x.shape != y.shape or x.size < 2 or np.any(np.diff(x) <= 0):
        raise ConfigError(
            f"AUC needs budgets and accuracies of equal length >= 2 with strictly increasing "
            f"budgets; got budgets_mb={x.tolist()} and accuracies_fraction={y.tolist()}."
        )
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2))


def summarize(matrix: MatrixLike, stage_accuracy: Sequence[float]) -> dict[str, float]:
    """Every per-run metric of one run, keyed by name."""
    stages = _stages(stage_accuracy)
    num_tasks = len(as_accuracy_matrix(matrix))
    if stages.size != num_tasks:
        raise ConfigError(
            f"There are {stages.size} stage accuracies for an accuracy matrix of {num_tasks} tasks; "
            f"a run must record exactly one stage accuracy per task."
        )
    return {
        "average_incremental_accuracy": average_incremental_accuracy(stages),
        "average_incremental_accuracy_excl_first": average_incremental_accuracy(stages, include_first=False),
        "last_accuracy": last_accuracy(stages),
        "forgetting": forgetting(matrix),
        "forgetting_mammoth": forgetting_mammoth(matrix),
        "forgetting_fm": forgetting_fm(matrix),
        "backward_transfer": backward_transfer(matrix),
    }


def _stages(stage_accuracy: Sequence[float]) -> np.ndarray:
    """Stage accuracies as a non-empty finite 1-D float array."""
    stages = np.asarray(stage_accuracy, dtype=float)
    if stages.ndim != 1 or stages.size == 0 or not np.isfinite(stages).all():
        raise ConfigError(
            f"The stage accuracies {np.asarray(stage_accuracy).tolist()} are not allowed; they "
            f"must be a non-empty list of finite accuracies, one per task."
        )
    return stages
