"""Each forgetting definition is named after the code it matches (issue 13, item 3), and blurry
runs fill the upper triangle of the accuracy matrix, which RM's F_last reads."""

import numpy as np
import pytest

from retain.runs.config import build_config
from retain.engine.evaluator import evaluating_each_epoch
from retain.runs.loop import build_setup, run
from retain.metrics import forgetting, forgetting_fm, forgetting_mammoth


def rm_f_last(cls_acc: np.ndarray) -> float:
    """Rainbow Memory main.py's loop, written out: for k = T-1, max over rows :k of column j < k."""
    k = len(cls_acc) - 1
    return float(np.mean([cls_acc[:k, j].max() - cls_acc[k, j] for j in range(k)]))


def test_rm_f_last_takes_the_maximum_over_every_earlier_row_of_a_blurry_matrix():
    # A blurry run tests every class from task 1: column 2 peaked at row 0, before its home task.
    full = np.array([[90.0, 20.0, 70.0], [60.0, 80.0, 40.0], [50.0, 40.0, 75.0]])
    assert forgetting(full) == pytest.approx(rm_f_last(full)) == pytest.approx(((90 - 50) + (80 - 40)) / 2)
    # Lower triangle only (the old evaluator) would miss nothing here, but a column whose best
    # earlier value lies above the diagonal is read by RM's rule:
    full[0, 1] = 95.0
    assert forgetting(full) == pytest.approx(rm_f_last(full)) == pytest.approx(((90 - 50) + (95 - 40)) / 2)


def test_mammoth_forgetting_includes_the_final_row_rm_does_not():
    # Task 1 rose at the end (70 -> 85): RM's term is negative, mammoth's max includes 85 -> 0.
    matrix = [[70.0], [60.0, 80.0], [85.0, 50.0, 90.0]]
    assert forgetting(matrix) == pytest.approx(((70 - 85) + (80 - 50)) / 2)
    assert forgetting_mammoth(matrix) == pytest.approx(((85 - 85) + (80 - 50)) / 2)
    # The memorization paper's FM: the same maximum, divisor T and the last task's zero term.
    assert forgetting_fm(matrix) == pytest.approx(((85 - 85) + (80 - 50) + 0) / 3)


BLURRY = ["scenario.kind=blurry", "scenario.num_tasks=5", "memory.budget=100 images", "train.epochs=1"]


def test_blurry_runs_record_the_upper_triangle_and_disjoint_runs_do_not(tmp_path):
    blurry = run(build_config(preset="demo", overrides=["method.name=er_mixed", *BLURRY], seed=1), out=tmp_path / "b")
    matrix = np.array(blurry["accuracy_matrix"], dtype=float)
    assert matrix.shape == (5, 5) and np.isfinite(matrix).all()
    assert blurry["metrics"]["forgetting"] == pytest.approx(rm_f_last(matrix))
    disjoint = run(build_config(preset="demo", overrides=["method.name=finetune", "train.epochs=1"], seed=1), out=tmp_path / "d")
    rows = np.array(disjoint["accuracy_matrix"], dtype=float)
    assert np.isnan(rows[np.triu_indices(5, k=1)]).all() and np.isfinite(rows[np.tril_indices(5)]).all()


def test_best_epoch_does_not_score_the_online_stream_pass():
    overrides = ["method.name=er_mixed", *BLURRY, "scenario.stream=online", "eval.every_epoch=true"]
    setup = build_setup(build_config(preset="demo", overrides=overrides, seed=1))
    task = setup.plan.tasks[0]
    setup.method.before_task(task)
    assert [p.name for p in setup.method.training_phases(task)] == ["stream", "memory"]
    best: list[float] = []
    callback = evaluating_each_epoch(None, setup.method, task, setup.ctx, best)
    callback("stream", 1, 1, 0.0, 0.1)
    assert best == []  # RM discards the accuracy of the stream pass
    callback("memory", 1, 2, 0.0, 0.1)
    assert len(best) == 1 and 0 <= best[0] <= 100
