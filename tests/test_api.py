"""The public Python API: what `import retain` offers, documented, and the run/sweep/load_results facade."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
import typing
from pathlib import Path

import pytest

import retain
from retain.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
FAST = {"train": {"epochs": 1}, "logging": {"tensorboard": False, "report": False}}


def test_import_retain_stays_light():
    code = ("import sys, retain; heavy = ('torch', 'matplotlib', 'tensorboard', 'sklearn', 'datasets', 'ray', 'pydantic');"
            "print(sorted(m for m in heavy if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_every_public_name_resolves_and_is_documented_with_type_hints():
    missing = []
    for name in retain.__all__:
        if name == "__version__":
            continue
        obj = getattr(retain, name)
        if not inspect.getdoc(obj):
            missing.append(f"{name}: no docstring")
        if inspect.isfunction(obj):
            hints = typing.get_type_hints(obj)
            unhinted = [p for p in inspect.signature(obj).parameters if p not in hints]
            if unhinted or "return" not in hints:
                missing.append(f"{name}: no type hint for {unhinted or 'the return value'}")
        if inspect.isclass(obj):
            for member, value in vars(obj).items():
                if member.startswith("_") or member in getattr(obj, "model_fields", {}):
                    continue
                function = value.__func__ if isinstance(value, (staticmethod, classmethod)) else value
                if (inspect.isfunction(function) or isinstance(function, property)) and not inspect.getdoc(function):
                    missing.append(f"{name}.{member}: no docstring")
    assert not missing, "public names without docstrings or type hints: " + "; ".join(missing)


def test_the_api_reference_is_generated_from_the_current_docstrings():
    proc = subprocess.run([sys.executable, str(ROOT / "docs" / "make_api.py"), "--check"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_registries_are_the_public_doors():
    from retain.data import dataset_names
    from retain.memory.policies import policy_names
    from retain.methods import method_names
    from retain.models import backbone_names

    assert retain.register_method is sys.modules["retain.methods.base"].register_method
    # the built-ins are registered by the time the decorator is handed out
    assert {"icarl", "finetune"} <= set(method_names())
    assert {"herding", "reservoir"} <= set(policy_names())
    assert {"mlp", "resnet32"} <= set(backbone_names())
    assert {"digits", "cifar100", "hf"} <= set(dataset_names())
    with pytest.raises(AttributeError, match="no attribute 'register_metric'"):
        retain.register_metric  # noqa: B018


def test_run_and_load_results_through_the_facade(tmp_path):
    results = retain.run({"preset": "demo", **FAST}, out=tmp_path / "run", method="finetune", seed=2, train__batch_size=64)
    assert isinstance(results, retain.Results)
    assert results.run_dir == tmp_path / "run"
    assert results.config["seed"] == 2 and results.config["train"]["batch_size"] == 64
    assert results.config["train"]["epochs"] == 1  # the mapping's section, merged with the preset's
    assert results.config["method"] == {"name": "finetune"}  # a method override replaces the section
    assert len(results.accuracy_matrix) == 5 and results.last_accuracy == results.stage_accuracy[-1]
    loaded = retain.load_results(tmp_path / "run")
    assert loaded == json.loads((tmp_path / "run" / "results.json").read_text())
    assert loaded.average_incremental_accuracy == results.average_incremental_accuracy


def test_make_config_reads_files_presets_and_objects(tmp_path):
    path = tmp_path / "cfg.yaml"
    path.write_text("preset: demo\ntrain: {epochs: 3}\n")
    from_file = retain.make_config(path, train={"lr": 0.2})
    assert (from_file.train.epochs, from_file.train.lr, from_file.preset) == (3, 0.2, "demo")
    assert retain.make_config("fmnist-b0-inc2").data.name == "fashion-mnist"
    again = retain.make_config(from_file, memory__budget="50 images")
    assert again.memory.budget == "50 images" and again.train.epochs == 3
    with pytest.raises(ConfigError, match="neither a config file that exists nor a preset name"):
        retain.make_config("no-such-preset")
    with pytest.raises(ConfigError, match="train.epochs"):
        retain.make_config(train__epochs=-1)


def test_load_results_refuses_a_folder_without_a_run(tmp_path):
    with pytest.raises(ConfigError, match="holds no results.json"):
        retain.load_results(tmp_path)


def test_sweep_from_a_mapping(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    grid = {"base": {"preset": "demo", **FAST}, "axes": {"method": ["finetune"], "seed": [0, 1]}}
    summary = retain.sweep(grid, out="sweep")
    assert isinstance(summary, retain.SweepSummary)
    assert sorted(summary.finished) == ["method=finetune__seed=0", "method=finetune__seed=1"]
    assert (tmp_path / "sweep" / "grid.yaml").is_file()
    again = retain.sweep(tmp_path / "sweep" / "grid.yaml", out="sweep")
    assert sorted(again.skipped) == sorted(summary.finished) and not again.finished


def test_make_config_replaces_a_presets_options_given_whole():
    """A backbone swapped through the Python API with options={} must not keep the preset's MLP
    options (merged, {} changed nothing and the config was refused for the old backbone's option)."""
    config = retain.make_config("demo", model={"backbone": "convnet2", "options": {}}, method={"name": "memo"})
    assert config.model.backbone == "convnet2" and config.model.options == {}
    assert retain.make_config("demo", model__options={"hidden": [64]}).model.options == {"hidden": [64]}
    assert retain.make_config("demo", train={"epochs": 2}).train.lr == retain.make_config("demo").train.lr  # still merged
