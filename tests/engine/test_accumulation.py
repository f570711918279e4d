"""train.grad_accumulation with train.accumulate_reduction: the mean of the micro-batch
gradients (default) or their sum (IL2M's official code, spec §11)."""

from __future__ import annotations

import pytest
import torch

from retain.engine.epoch import EpochRunner
from retain.runs.config import build_config
from retain.runs.loop import run


def _first_step_gradient(tmp_path, monkeypatch, reduction: str, accumulate: int) -> torch.Tensor:
    """The gradient of the head's weight when the optimiser first steps."""
    grads: list[torch.Tensor] = []
    real = EpochRunner.optimizer_step

    def spy(self):
        grads.append(self.method.network.head.weight.grad.detach().clone())
        real(self)

    monkeypatch.setattr(EpochRunner, "optimizer_step", spy)
    config = build_config(preset="demo", seed=0, overrides=[
        "method.name=finetune", "scenario.num_tasks=1", "train.epochs=1", "train.batch_size=16",
        f"train.grad_accumulation={accumulate}", f"train.accumulate_reduction={reduction}"])
    run(config, out=tmp_path / f"{reduction}{accumulate}")
    return grads[0]


def test_sum_reduction_steps_with_the_sum_of_the_micro_batch_gradients(tmp_path, monkeypatch):
    one = _first_step_gradient(tmp_path, monkeypatch, "mean", 1)
    mean = _first_step_gradient(tmp_path, monkeypatch, "mean", 3)
    summed = _first_step_gradient(tmp_path, monkeypatch, "sum", 3)
    assert torch.allclose(summed, 3 * mean, rtol=1e-5, atol=1e-7)
    assert not torch.allclose(mean, one)  # three batches' mean, not the first batch alone
    assert summed.norm() > 2.5 * mean.norm()


def test_accumulate_reduction_refuses_other_values():
    with pytest.raises(Exception) as info:
        build_config(preset="demo", overrides=["train.accumulate_reduction=avg"])
    assert "train.accumulate_reduction" in str(info.value) and "avg" in str(info.value)
