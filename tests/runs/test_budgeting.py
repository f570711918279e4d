"""budget.protocol wiring: the run's ledger budget, the dry-run forecast (3312 for MEMO fair) and `retain budget`."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from retain.cli import app
from retain.errors import ConfigError
from retain.budget.forecast import forecast
from retain.runs.budgeting import memory_budget_bytes, point_config, resolve_budget
from retain.runs.config import build_config

CIFAR_SHAPE = (3, 32, 32)


def cifar_config(method: str, *overrides: str):
    return build_config(preset="cifar100-b0-inc10", overrides=[f"method.name={method}", *overrides])


@pytest.mark.parametrize("method, exemplars", [("memo", 3312), ("der", 2000), ("icarl", 7431), ("wa", 7431), ("bic", 7431)])
def test_fair_exemplars_after_the_last_task(method, exemplars):
    resolved = resolve_budget(cifar_config(method, "budget.protocol=fair"), CIFAR_SHAPE, 10)
    assert resolved.final_exemplars() == exemplars
    assert round(resolved.total_bytes / 2**20, 2) == 23.54


def test_memo_fair_keeps_the_scripts_fixed_count_at_every_task():
    # Issue 17, item 8: the official MEMO scripts pass -ms 3312 once, and every task keeps 3312
    # exemplars (33 per class after the last). That is budget.exemplars=fixed, the default.
    resolved = resolve_budget(cifar_config("memo", "budget.protocol=fair"), CIFAR_SHAPE, 10)
    rows = forecast(resolved, [10 * (t + 1) for t in range(10)])
    assert [r.capacity for r in rows] == [3312] * 10
    assert [r.per_class for r in rows[:2]] == [331, 165]
    assert [r.extra_bytes for r in rows] == [4 * 351_488 * t for t in range(10)]


def test_budget_exemplars_is_refused_under_benchmark():
    with pytest.raises(ConfigError) as refused:
        cifar_config("memo", "budget.exemplars=fill")
    assert "budget.exemplars=fill" in str(refused.value) and "budget.protocol" in str(refused.value)


def test_fixed_exemplars_reserve_the_room_above_the_final_count():
    from retain.console import Reporter
    from retain.runs.loop import build_setup

    overrides = ["method.name=memo", "model.backbone=resnet14", "model.options={}", "budget.protocol=fair",
                 "budget.reference_backbone=resnet14", "budget.reference_exemplars=100", "scenario.increment=5"]
    for mode, fixed in (("fixed", True), ("fill", False)):
        setup = build_setup(build_config(preset="demo", overrides=[*overrides, f"budget.exemplars={mode}"], seed=1),
                            Reporter(quiet=True))
        method, ctx = setup.method, setup.ctx
        method.before_task(setup.plan.tasks[0])
        room = method.memory.capacity_bytes(method.reserved_bytes())
        final = resolve_budget(setup.config, (1, 8, 8), 2).final_exemplars()
        if fixed:  # the last task's count (64-byte digits) already at task 1
            assert ctx.exemplar_bytes == room == final * 64 < ctx.budget_bytes
        else:      # task 1 has no extra branch yet: the whole ledger budget
            assert ctx.exemplar_bytes is None and room == ctx.budget_bytes > final * 64


def test_memo_fair_fill_grows_the_model_and_shrinks_the_exemplars():
    resolved = resolve_budget(cifar_config("memo", "budget.protocol=fair", "budget.exemplars=fill"), CIFAR_SHAPE, 10)
    rows = forecast(resolved, [10 * (t + 1) for t in range(10)])
    assert [r.extra_bytes for r in rows] == [4 * 351_488 * t for t in range(10)]
    assert all(a.capacity > b.capacity for a, b in zip(rows, rows[1:]))
    assert (rows[-1].capacity, rows[-1].per_class, rows[-1].stored) == (3312, 33, 3300)


def test_benchmark_keeps_memory_budget_and_does_not_charge_the_model():
    config = cifar_config("memo")
    assert memory_budget_bytes(config, CIFAR_SHAPE, 10) == 2000 * 3072
    resolved = resolve_budget(config, CIFAR_SHAPE, 10)
    assert not resolved.charges_model and resolved.final_exemplars() == 2000


@pytest.mark.parametrize("method, point, exemplars", [("memo", 1, 2118), ("der", 1, 2096), ("replay", 2, 3634), ("memo", 4, 3040)])
def test_auc_points_give_the_spec_exemplars(method, point, exemplars):
    config = point_config(cifar_config(method, "budget.protocol=auc"), point)
    assert resolve_budget(config, CIFAR_SHAPE, 10).final_exemplars() == exemplars


def test_auc_point_with_the_wrong_backbone_names_the_field():
    with pytest.raises(ConfigError, match="model.backbone"):
        resolve_budget(cifar_config("memo", "budget.protocol=auc", "budget.point=1"), CIFAR_SHAPE, 10)


def test_budget_command_prints_the_spec_table():
    result = CliRunner().invoke(app, ["budget", "--preset", "cifar100-b0-inc10"])
    assert result.exit_code == 0, result.output
    for number in ("603.52", "23.54", "3312", "7431", "2096", "2118", "2495", "2768", "3040", "3634", "4900", "6165"):
        assert number in result.output


def write_fake_cifar100(folder: Path) -> None:
    rng = np.random.default_rng(0)
    root = folder / "cifar-100-python"
    root.mkdir(parents=True)
    for name in ("train", "test"):
        labels = [int(c) for c in np.arange(100).repeat(2)]
        batch = {b"data": rng.integers(0, 256, (200, 3072), dtype=np.uint8), b"fine_labels": labels,
                 b"coarse_labels": [c // 5 for c in labels], b"filenames": [b"x.png"] * 200}
        (root / name).write_bytes(pickle.dumps(batch, protocol=2))
    meta = {b"fine_label_names": [b"c%d" % i for i in range(100)], b"coarse_label_names": [b"s%d" % i for i in range(20)]}
    (root / "meta").write_bytes(pickle.dumps(meta, protocol=2))


def test_dry_run_prints_the_ledger_forecast_with_3312(tmp_path, monkeypatch):
    monkeypatch.setenv("RETAIN_DATA", str(tmp_path / "cache"))
    write_fake_cifar100(tmp_path / "data")
    args = ["run", "--preset", "cifar100-b0-inc10", "--set", "method.name=memo", "--set", "budget.protocol=fair",
            "--set", f"data.dir={tmp_path / 'data'}", "--set", "data.download=false", "--dry-run"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "protocol fair" in result.output
    assert "exemplars after the last task: 3312 (33 per class, 3300 stored)" in result.output


def test_auc_sweep_runs_every_point_and_integrates(tmp_path):
    import json

    from retain.launch import launch as run

    config = build_config(preset="demo", overrides=[
        "method.name=memo", "model.backbone=convnet2", "model.options={}", "scenario.num_tasks=2", "train.epochs=1",
        "budget.protocol=auc", "budget.points=[convnet2, resnet14]", "budget.reference_backbone=convnet2",
        "budget.reference_exemplars=20",
    ])
    summary = run(config, out=tmp_path / "sweep")
    assert json.loads((tmp_path / "sweep" / "auc.json").read_text()) == summary
    assert [p["backbone"] for p in summary["points"]] == ["convnet2", "resnet14"]
    first, second = summary["points"]
    expected_l = (second["mb"] - first["mb"]) * (first["last_accuracy"] + second["last_accuracy"]) / 200
    assert summary["auc_l"] == pytest.approx(expected_l)
    for index in (1, 2):
        saved = json.loads((tmp_path / "sweep" / f"point-{index}" / "results.json").read_text())
        assert saved["config"]["budget"]["point"] == index


def test_an_auc_grid_whose_budgets_do_not_grow_is_refused_before_any_point_trains(tmp_path):
    """At 2 tasks, twice a ConvNet2 and twice a ResNet-14 are both under one ResNet-32, so the
    first two points get the same memory: refused up front, not after training all five."""
    from retain.launch import launch

    config = build_config(preset="demo", overrides=["budget.protocol=auc", "scenario.num_tasks=2"])
    with pytest.raises(ConfigError, match=r"budget.points=\[.*do not strictly increase.*Nothing was trained") as refused:
        launch(config, out=tmp_path / "sweep")
    assert "convnet2 1.889, resnet14 1.889" in str(refused.value)
    assert not (tmp_path / "sweep").exists()
