"""WA: weight alignment (shared with DER and MEMO) and the λ-weighted distillation loss (spec §10.6 item 1)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from retain.runs.config import build_config
from retain.runs.loop import build_setup, run
from retain.methods.base import Batch
from retain.methods.bias_correction import weight_align
from retain.methods.distillation import kd_loss
from retain.models import IncrementalLinear


def wa_config(*overrides: str):
    base = ["method.name=wa", "scenario.num_tasks=2", "train.epochs=1"]
    return build_config(preset="demo", overrides=[*base, *overrides], seed=0)


def test_weight_align_equalises_mean_row_norms_and_keeps_old_rows_and_biases():
    torch.manual_seed(0)
    head = IncrementalLinear(128, 20)
    with torch.no_grad():
        head.weight[10:] *= 3.0
        head.bias.uniform_(-1, 1)
    old_rows, bias = head.weight[:10].detach().clone(), head.bias.detach().clone()
    norms = head.weight.detach().norm(dim=1)
    expected_gamma = (norms[:10].mean() / norms[10:].mean()).item()
    gamma = weight_align(head, 10)
    assert gamma == pytest.approx(expected_gamma, rel=1e-6)
    after = head.weight.detach().norm(dim=1)
    assert after[10:].mean().item() == pytest.approx(after[:10].mean().item(), rel=1e-6)
    assert torch.equal(head.weight[:10], old_rows) and torch.equal(head.bias, bias)


def test_weight_align_without_old_classes_is_a_no_op():
    head = IncrementalLinear(8, 4)
    before = head.weight.detach().clone()
    assert weight_align(head, 0) == 1.0 and torch.equal(head.weight, before)


def test_loss_is_one_minus_lambda_ce_plus_lambda_kd():
    setup = build_setup(wa_config())
    method = setup.method
    method.before_task(setup.plan.tasks[0])
    method.before_task(setup.plan.tasks[1])
    assert method.old_classes == 2
    images = torch.randn(6, 1, 8, 8)
    labels = torch.tensor([0, 1, 2, 3, 2, 3])
    batch = Batch(images=images, labels=labels, raw=images, from_memory=torch.zeros(6, dtype=torch.bool), indices=torch.arange(6))
    method.network.eval()
    loss = method.training_loss(batch)
    logits = method.network(images)["logits"]
    old = method.teacher(images)["logits"]
    lam = 2 / 4
    expected = (1 - lam) * F.cross_entropy(logits, labels) + lam * kd_loss(logits[:, :2], old, 2.0)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)


def test_wa_learns_and_aligns_after_the_second_task(tmp_path):
    results = run(wa_config("train.epochs=10"), out=tmp_path / "run")
    assert results["stage_accuracy"][-1] > 60  # chance is 25 %
    assert results["primary_score"] == "cnn"
    assert len(results["method_results"]["alignment_gamma"]) == 1


def _spy_alignment(monkeypatch, shrink_new: float = 1.0) -> list[float]:
    """Record the norm ratio of every head `align_weights` sees (after scaling its new rows by
    `shrink_new`, to force γ > 1 when < 1), computed here from the weights themselves."""
    from retain.methods import bias_correction

    real = bias_correction.align_weights
    seen: list[float] = []

    def spy(head, old_classes):
        with torch.no_grad():
            head.weight[old_classes:] *= shrink_new
        norms = head.weight.detach().float().norm(dim=1)
        seen.append((norms[:old_classes].mean() / norms[old_classes:].mean()).item())
        return real(head, old_classes)

    monkeypatch.setattr(bias_correction, "align_weights", spy)
    return seen


@pytest.mark.parametrize("method", ["wa", "der", "memo"])
def test_results_record_each_tasks_gamma_as_the_norm_ratio_the_head_had(tmp_path, monkeypatch, method):
    seen = _spy_alignment(monkeypatch)
    extra = ["model.backbone=convnet2", "model.options={}"] if method != "wa" else []
    results = run(wa_config(f"method.name={method}", "scenario.num_tasks=3", *extra), out=tmp_path / "run")
    records = results["method_results"]["alignment"]
    assert [r["task"] for r in records] == [2, 3] and len(seen) == 2
    assert results["method_results"]["alignment_gamma"] == pytest.approx(seen, rel=1e-6)
    for record, ratio in zip(records, seen):
        assert record["gamma"] == pytest.approx(record["old_norm"] / record["new_norm"], rel=1e-6)
        assert record["enlarged_new"] is (ratio > 1)


def test_alignment_that_enlarges_the_new_classes_warns_and_says_so_in_the_results(tmp_path, monkeypatch, caplog):
    seen = _spy_alignment(monkeypatch, shrink_new=0.1)
    with caplog.at_level("INFO", logger="retain"):
        results = run(wa_config(), out=tmp_path / "run")
    assert seen[0] > 1 and results["method_results"]["alignment"][0]["enlarged_new"] is True
    warnings = [r for r in caplog.records if r.levelname == "WARNING" and "ENLARGED the new classes" in r.getMessage()]
    assert len(warnings) == 1 and "WA task 2" in warnings[0].getMessage()
    assert f"{seen[0]:.3f}" in warnings[0].getMessage()


def test_alignment_that_shrinks_the_new_classes_does_not_warn(caplog):
    from retain.methods.bias_correction import align_and_record

    head = IncrementalLinear(16, 6)
    with torch.no_grad():
        head.weight[4:] *= 5.0
    with caplog.at_level("INFO", logger="retain"):
        record = align_and_record(head, 4, task=1, method="WA")
    assert record["gamma"] < 1 and record["enlarged_new"] is False and record["task"] == 2
    assert not [r for r in caplog.records if r.levelname == "WARNING"]


def test_the_enlarging_warning_is_shown_by_the_cli_without_verbose(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from retain.cli import app

    _spy_alignment(monkeypatch, shrink_new=0.1)
    result = CliRunner().invoke(app, ["run", "--set", "method.name=wa", "--set", "scenario.num_tasks=2",
                                      "--set", "train.epochs=1", "--set", "logging.tensorboard=false",
                                      "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert "ENLARGED the new classes" in " ".join(result.output.split())
