"""The resolved run (RunSpec): one object that the dry run, `retain budget`, the AUC sweep and the run read."""

from __future__ import annotations

import pytest

from retain.data import load_dataset
from retain.errors import ConfigError
from retain.runs.config import build_config
from retain.runs.loop import build_setup, run
from retain.runs.spec import resolve_run
from retain.methods.memo import Memo
from retain.scenarios import make_plan


def test_spec_from_the_config_alone_needs_no_data_files():
    # CIFAR-100 is not installed here: geometry comes from the table, the plan from a stand-in.
    spec = resolve_run(build_config(preset="cifar100-b0-inc10", overrides=["method.name=memo", "budget.protocol=fair"]))
    assert spec.method_cls is Memo and spec.growth == "specialized"
    assert spec.image_shape == (3, 32, 32) and spec.num_classes == 100
    assert spec.seen_per_task == list(range(10, 101, 10))
    assert spec.budget.final_exemplars() == 3312  # MEMO's fair count (spec §2.6)
    assert "exemplars after the last task: 3312 (33 per class, 3300 stored)" in spec.forecast_text()


def test_spec_on_the_loaded_dataset_is_what_the_run_uses():
    config = build_config(preset="demo", overrides=["method.name=icarl", "memory.budget=100 images", "scenario.base=4", "scenario.increment=3"])
    alone = resolve_run(config)
    setup = build_setup(config)
    spec = setup.spec
    assert spec.plan is setup.plan and setup.ctx.budget_bytes == spec.budget_bytes == 100 * 64
    assert spec.seen_per_task == alone.seen_per_task == [4, 7, 10]
    assert spec.params == setup.method.params
    raw = load_dataset("digits")
    expected = make_plan(config.scenario, raw.train.labels.numpy(), raw.test.labels.numpy(), raw.num_classes)
    assert spec.plan.to_dict() == expected.to_dict()


def test_method_params_are_checked_when_the_spec_is_resolved():
    config = build_config(preset="demo")
    config.method["herding"] = "maybe"  # bypasses build_config's check: the spec must still refuse it
    with pytest.raises(ConfigError, match="method"):
        resolve_run(config)


def test_one_run_refuses_auc_without_a_point_which_launch_sweeps(tmp_path):
    config = build_config(preset="demo", overrides=["method.name=memo", "budget.protocol=auc", "model.backbone=convnet2",
                                                    "model.options={}"])
    assert resolve_run(config).is_auc_sweep
    with pytest.raises(ConfigError, match="budget.point"):
        run(config, out=tmp_path / "one")
    assert not (tmp_path / "one").exists()
