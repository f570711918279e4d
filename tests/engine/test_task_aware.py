"""Task-incremental evaluation (eval.task_incremental): scores masked to each sample's own task."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from retain.engine.task_aware import mask_to_own_task
from retain.errors import ConfigError
from retain.runs.config import validate_config
from retain.runs.spec import resolve_run


def test_only_the_samples_own_task_competes():
    class_task = torch.tensor([0, 0, 1, 1, 1])  # task 0: classes 0-1, task 1: classes 2-4
    scores = torch.tensor([[0.1, 0.2, 9.0, 0.0, 0.0],    # task 0 sample: class 2 wins overall, class 1 within its task
                           [5.0, 0.0, 0.3, 0.1, 0.2]])   # task 1 sample: class 0 wins overall, class 2 within its task
    masked = mask_to_own_task(scores, class_task, torch.tensor([0, 1]))
    assert masked.argmax(dim=1).tolist() == [1, 2]
    assert torch.isinf(masked[0, 2:]).all() and torch.isinf(masked[1, :2]).all()
    torch.testing.assert_close(masked[0, :2], scores[0, :2])


def test_task_aware_accuracy_is_reported_next_to_class_incremental_and_never_below_it(tmp_path):
    import retain

    results = retain.run("demo", out=tmp_path / "run", train__epochs=3, eval__task_incremental=True,
                         logging={"tensorboard": False, "report": False})
    for score in ("cnn", "nme"):
        cil = np.array(results["accuracy"][score]["matrix"], dtype=float)
        til = np.array(results["accuracy"][f"{score}-til"]["matrix"], dtype=float)
        seen = ~np.isnan(cil)
        np.testing.assert_array_equal(np.isnan(til), ~seen)
        # The true class is always among the unmasked ones: masking can only turn errors into hits.
        assert (til[seen] >= cil[seen] - 1e-9).all()
        assert (til[seen] > cil[seen] + 1).any()  # iCaRL confuses old and new tasks; knowing the task helps
        assert results["metrics_by_score"][f"{score}-til"]["last_accuracy"] >= results["metrics_by_score"][score]["last_accuracy"]
    assert results["primary_score"] == "nme"  # the class-incremental score stays the headline


def test_task_aware_evaluation_is_refused_where_it_is_not_defined():
    with pytest.raises(ConfigError, match="needs disjoint tasks"):
        resolve_run(validate_config({"scenario": {"kind": "blurry", "increment": 2, "blurry": 10},
                                     "eval": {"task_incremental": True}}))
    from retain.methods import get_method_class

    finetune = get_method_class("finetune")
    try:
        finetune.task_incremental = False  # what a method whose scores do not rank classes declares
        with pytest.raises(ConfigError, match="not defined for method.name='finetune'"):
            resolve_run(validate_config({"method": "finetune", "eval": {"task_incremental": True}}))
    finally:
        del finetune.task_incremental
    assert resolve_run(validate_config({"method": "finetune", "eval": {"task_incremental": True}})).num_tasks == 5
