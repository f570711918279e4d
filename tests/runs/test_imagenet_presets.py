"""The ImageNet-scale presets dry-run without their data: the plan on the registered geometry, the
byte budget, and a time forecast from a few measured steps times the plan's steps (issue 27)."""

from __future__ import annotations

import math

import pytest
from typer.testing import CliRunner

from retain.cli import app
from retain.runs.config import build_config
from retain.console import Reporter
from retain.runs.loop import run
from retain.runs.spec import resolve_run
from retain.runs.time_forecast import StepProbe, count_work

NO_STEPS = StepProbe(steps=0)
TASKS = {"imagenet100-b50-inc10": 6, "imagenet-b500-inc100": 6, "il2m-imagenet": 10, "rm-imagenet-blurry10-online": 10,
         "memo-imagenet100": 10, "maer-tinyimagenet": 20}


@pytest.fixture(autouse=True)
def empty_cache(tmp_path, monkeypatch):
    """No dataset files anywhere: the dry runs must not need them (nor download them)."""
    monkeypatch.setenv("RETAIN_DATA", str(tmp_path / "cache"))
    monkeypatch.setenv("RETAIN_DATA_MIRROR", "http://127.0.0.1:9/unreachable/")


@pytest.mark.parametrize("name", sorted(TASKS))
def test_each_preset_dry_runs_without_its_data(name, tmp_path):
    config = build_config(preset=name)
    out = run(config, out=tmp_path / "dry", dry_run=True, probe=NO_STEPS)
    assert out["dry_run"] and len(out["plan"]["tasks"]) == TASKS[name]
    assert out["stand_in"] and not (tmp_path / "dry").exists()


def test_the_class_list_gives_the_plan_its_classes_and_the_stand_in_costs_no_memory():
    spec = resolve_run(build_config(preset="imagenet100-b50-inc10"))
    assert spec.num_classes == 100 and spec.image_shape == (3, 224, 224)
    assert [len(t.new_classes) for t in spec.plan.tasks] == [50, 10, 10, 10, 10, 10]
    full = resolve_run(build_config(preset="imagenet-b500-inc100"))
    assert full.num_classes == 1000 and [len(t.new_classes) for t in full.plan.tasks] == [500] + [100] * 5
    phases = resolve_run(build_config(preset="imagenet100-b50-inc10", overrides=["scenario.increment=2"]))
    assert len(phases.plan.tasks) == 26  # the 25-phase variant


def test_the_budget_is_in_imagenet_images_and_jpeg_rows_are_said(capsys):
    run(build_config(preset="imagenet100-b50-inc10", overrides=["method.name=mrdc"]), dry_run=True, probe=NO_STEPS,
        reporter=Reporter(quiet=False))
    text = " ".join(capsys.readouterr().out.split())
    assert "ledger budget 301,056,000 bytes" in text  # 2000 raw exemplars of 3 x 224 x 224 = 150,528 bytes
    assert "JPEG at quality 50" in text and "raw rows (150,528 bytes each)" in text
    assert "does not read the 'imagenet' files" in text and "time forecast: skipped" in text


def test_the_cli_forecast_measures_steps_and_says_what_it_leaves_out(tmp_path):
    result = CliRunner().invoke(app, ["run", "--preset", "imagenet100-b50-inc10", "--dry-run", "--forecast-steps", "1",
                                      "--set", "train.threads=1", "--set", "device=cpu"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "time forecast on cpu: resnet18-imagenet at 3×224×224, 100 classes, measured 1 training step at batch 8 (of 128" in text
    assert "assuming 1,281 training and 50 test images per class" in text
    assert "forecast: " in text and "not included: reading and decoding the images" in text


def test_the_work_counted_is_epochs_times_batches_of_task_rows_and_memory():
    spec = resolve_run(build_config(preset="imagenet100-b50-inc10"))
    # 1,000 training and 50 test images per class: the stand-in's 4 rows per class scaled by 250 and 12.5.
    memory = [0, 2000, 1980, 1960, 2000, 1980]
    work = count_work(spec, rows_scale=250, test_scale=12.5, memory_rows=memory)
    per_task = [90 * math.ceil((classes * 1000 + m) / 128) for classes, m in zip([50, 10, 10, 10, 10, 10], memory)]
    assert work.train_steps == sum(per_task)
    assert work.train_images == 90 * (100 * 1000 + sum(memory))
    assert work.eval_images == 50 * sum([50, 60, 70, 80, 90, 100])


def test_an_online_stream_counts_one_pass_then_the_epochs_over_the_memory():
    spec = resolve_run(build_config(preset="rm-imagenet-blurry10-online"))
    memory = [20000] * 10
    work = count_work(spec, rows_scale=1, memory_rows=memory)
    rows = [len(t.train_indices) for t in spec.plan.tasks]
    assert work.train_steps == sum(math.ceil(r / 256) + 100 * math.ceil(20000 / 256) for r in rows)
    assert work.train_images == sum(rows) + 10 * 100 * 20000


def test_a_dataset_not_on_this_machine_is_planned_on_its_geometry_but_a_named_folder_is_read(tmp_path):
    out = run(build_config(overrides=["data.name=cifar10", "model.backbone=resnet32", "model.options={}"]),
              dry_run=True, probe=NO_STEPS)
    assert "not on this machine" in out["stand_in"]
    from retain.errors import DatasetError

    with pytest.raises(DatasetError, match="not found"):
        run(build_config(overrides=["data.name=cifar10", f"data.dir={tmp_path}", "model.backbone=resnet32",
                                    "model.options={}"]), dry_run=True, probe=NO_STEPS)


def test_a_named_imagenet_folder_that_is_not_there_is_refused_by_the_dry_run_too(tmp_path):
    from retain.errors import DatasetError

    config = build_config(preset="imagenet100-b50-inc10", overrides=[f"data.dir={tmp_path / 'nowhere'}"])
    with pytest.raises(DatasetError, match="does not exist"):
        run(config, dry_run=True, probe=NO_STEPS)
