import numpy as np
import pytest

from retain.errors import ConfigError
from retain.scenarios import class_order

# Spec §0.4 / §10.0 item 1: the published seed-1993 CIFAR-100 order (iCaRL, LUCIR, PyCIL, MEMO).
PUBLISHED_1993_PREFIX = [68, 56, 78, 8, 23, 84, 90, 65, 74, 76, 40, 89, 3, 92, 55, 9, 26, 80, 43, 38]


def test_shuffle_with_seed_1993_reproduces_the_published_cifar100_order():
    order = class_order(100, "shuffle", seed=1993)
    assert order[:20] == PUBLISHED_1993_PREFIX
    assert sorted(order) == list(range(100))
    assert all(type(c) is int for c in order)


def test_shuffle_depends_on_the_seed():
    assert class_order(100, "shuffle", seed=0) != class_order(100, "shuffle", seed=1993)


def test_natural_order():
    assert class_order(5, "natural") == [0, 1, 2, 3, 4]


def test_explicit_order_is_kept():
    assert class_order(4, [2, 0, 3, 1]) == [2, 0, 3, 1]
    assert class_order(3, np.array([1, 2, 0])) == [1, 2, 0]


@pytest.mark.parametrize("order", [[0, 1, 1], [0, 1], [0, 1, 2, 3], [0, 1, 3], [0.0, 1.0, 2.0]])
def test_explicit_order_must_be_a_permutation(order):
    with pytest.raises(ConfigError, match=r"scenario\.order is") as error:
        class_order(3, order)
    assert "permutation of 0..2" in str(error.value)


def test_unknown_order_name_is_refused():
    with pytest.raises(ConfigError, match=r"scenario\.order is 'random'.*'natural', 'shuffle'"):
        class_order(10, "random")
