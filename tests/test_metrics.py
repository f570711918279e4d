import math

import numpy as np
import pytest

from retain.errors import ConfigError
from retain.metrics import (
    as_accuracy_matrix,
    auc,
    average_incremental_accuracy,
    backward_transfer,
    forgetting,
    forgetting_fm,
    intransigence,
    last_accuracy,
    summarize,
)

# Spec §10.0 item 6: the toy matrix (entries not listed are 0 there; None/NaN/ragged here too).
TOY_ZEROS = [[90, 0, 0], [60, 80, 0], [50, 40, 70]]
TOY_NONE = [[90, None, None], [60, 80, None], [50, 40, 70]]
TOY_RAGGED = [[90], [60, 80], [50, 40, 70]]
TOY_NAN = np.array([[90, np.nan, np.nan], [60, 80, np.nan], [50, 40, 70]])

# Spec §4.5: IL2M README top-1 accuracies for states 1..10.
IL2M_TOP1 = [77.52, 70.23, 63.28, 59.40, 53.83, 50.31, 48.87, 46.81, 43.49, 40.91]


@pytest.mark.parametrize("matrix", [TOY_ZEROS, TOY_NONE, TOY_RAGGED, TOY_NAN])
def test_toy_matrix_forgetting_conventions(matrix):
    assert forgetting(matrix) == pytest.approx(40.0)          # RM F_last (divisor T-1); = mammoth here: nothing rose at the end
    assert forgetting_fm(matrix) == pytest.approx(80 / 3)     # 26.667, divisor T, last task included
    assert forgetting_fm(matrix) == pytest.approx(forgetting(matrix) * 2 / 3)


def test_toy_matrix_backward_transfer():
    # (50 - 90 + 40 - 80) / 2
    assert backward_transfer(TOY_NONE) == pytest.approx(-40.0)


def test_forgetting_uses_best_earlier_accuracy_not_first():
    # Task 1 peaks after task 2 (95), final 85 -> 10; task 2: 80 -> 60 -> 20; mean 15.
    matrix = [[90], [95, 80], [85, 60, 70]]
    assert forgetting(matrix) == pytest.approx(15.0)
    assert forgetting_fm(matrix) == pytest.approx(30.0 / 3)
    assert backward_transfer(matrix) == pytest.approx(((85 - 90) + (60 - 80)) / 2)


def test_forgetting_can_be_negative_but_fm_counts_the_final_row():
    # Accuracy on task 1 rose at the end: RM/brief convention gives -10, FM's max includes the final row.
    matrix = [[50], [60, 80]]
    assert forgetting(matrix) == pytest.approx(-10.0)
    assert forgetting_fm(matrix) == pytest.approx(0.0)


def test_blurry_upper_entries_count_in_the_maximum():
    # Blurry runs test task 2's classes already after task 1 (a[0][1] = 90 is a real value).
    matrix = [[70, 90], [60, 50]]
    assert forgetting(matrix) == pytest.approx(10.0)
    assert forgetting_fm(matrix) == pytest.approx((10 + 40) / 2)


def test_il2m_average_incremental_accuracy_both_conventions():
    assert average_incremental_accuracy(IL2M_TOP1, include_first=False) == pytest.approx(53.01, abs=0.005)
    assert average_incremental_accuracy(IL2M_TOP1) == pytest.approx(55.465, abs=0.0005)


def test_last_accuracy_and_intransigence():
    assert last_accuracy(IL2M_TOP1) == 40.91
    assert intransigence(60.0, 40.91) == pytest.approx(19.09)


def test_auc_of_constant_accuracy_over_memo_cifar_points():
    assert auc([7.6, 12.4, 16.0, 19.8, 23.5], [0.70] * 5) == pytest.approx(11.13)


def test_auc_trapezoid_of_a_line():
    # Accuracy rising linearly 0.2 -> 0.6 over 0..4 MB: area 4 * 0.4.
    assert auc([0, 1, 4], [0.2, 0.3, 0.6]) == pytest.approx(1.6)


@pytest.mark.parametrize("budgets,accs", [([1.0], [0.5]), ([1, 2], [0.5]), ([2, 1], [0.5, 0.6])])
def test_auc_refuses_bad_points(budgets, accs):
    with pytest.raises(ConfigError, match="budgets"):
        auc(budgets, accs)


def test_summarize_keys_and_values():
    result = summarize(TOY_NONE, [90, 60, 53.3])
    assert result == pytest.approx({
        "average_incremental_accuracy": (90 + 60 + 53.3) / 3,
        "average_incremental_accuracy_excl_first": (60 + 53.3) / 2,
        "last_accuracy": 53.3,
        "forgetting": 40.0,
        "forgetting_mammoth": 40.0,
        "forgetting_fm": 80 / 3,
        "backward_transfer": -40.0,
    })
    assert all(isinstance(v, float) for v in result.values())


def test_single_task_has_zero_forgetting_not_nan():
    result = summarize([[75.0]], [75.0])
    assert result["forgetting"] == 0.0
    assert result["forgetting_fm"] == 0.0
    assert result["backward_transfer"] == 0.0
    assert result["average_incremental_accuracy"] == 75.0
    assert math.isnan(result["average_incremental_accuracy_excl_first"])


def test_summarize_refuses_mismatched_stage_count():
    with pytest.raises(ConfigError, match="stage accuracies"):
        summarize(TOY_NONE, [90, 60])


def test_missing_lower_entry_is_refused():
    with pytest.raises(ConfigError, match=r"a\[1\]\[0\]"):
        as_accuracy_matrix([[90], [None, 80]])


def test_too_wide_matrix_is_refused():
    with pytest.raises(ConfigError, match="at most T columns"):
        forgetting([[90, 80, 70], [60, 80, 70]])


def test_matrix_forms_agree():
    expected = as_accuracy_matrix(TOY_NAN)
    for form in (TOY_NONE, TOY_RAGGED):
        np.testing.assert_array_equal(as_accuracy_matrix(form), expected)
