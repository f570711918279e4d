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


def test_a_preset_keyword_chooses_the_preset_or_is_refused(tmp_path):
    """preset= naming another preset than the config used to be recorded over the one that trained."""
    assert retain.make_config(preset="fmnist-b0-inc2").data.name == "fashion-mnist"
    assert retain.make_config("demo", preset="demo").preset == "demo"
    under = retain.make_config({"train": {"epochs": 3}}, preset="fmnist-b0-inc2")  # the preset under the mapping
    assert (under.preset, under.data.name, under.train.epochs) == ("fmnist-b0-inc2", "fashion-mnist", 3)
    with pytest.raises(ConfigError, match=r"names preset: demo and preset='fmnist-b0-inc2' was given; a run has one preset"):
        retain.run("demo", out=tmp_path / "p1", preset="fmnist-b0-inc2", dry_run=True)
    assert not (tmp_path / "p1").exists()
    with pytest.raises(ConfigError, match=r"Unknown preset .*'abc'. Known names: .*demo"):
        retain.make_config("demo", preset="abc")
    with pytest.raises(ConfigError, match="preset = 3 is not allowed"):
        retain.make_config(preset=3)


@pytest.mark.parametrize("value", [5, "abc", [1, 2]])
def test_a_section_given_as_a_non_mapping_is_refused(value):
    """train=5 with train__threads=1 used to drop the preset's whole train section."""
    for overrides in ({"train": value}, {"train": value, "train__threads": 1}):
        with pytest.raises(ConfigError, match=r"train = .* is not allowed: train must be a mapping of train settings"):
            retain.make_config("demo", **overrides)
    own = retain.make_config("demo").train.model_copy(update={"epochs": 7})  # a config's own section is still taken whole
    assert retain.make_config("demo", train=own).train.epochs == 7


def test_a_setting_given_twice_is_refused_naming_both_spellings():
    with pytest.raises(ConfigError, match=r"train.epochs is given twice: as train=\{'epochs': 2\} and as train__epochs=1"):
        retain.make_config("demo", train={"epochs": 2}, train__epochs=1)
    with pytest.raises(ConfigError, match="model.options is given twice"):
        retain.make_config("demo", model={"options": {"hidden": [8]}}, model__options__hidden=[4])
    # a method by name and one of its parameters are two settings, in either order
    for overrides in ({"method": "icarl", "method__loss": "sigmoid"}, {"method__loss": "sigmoid", "method": "icarl"}):
        assert retain.make_config("demo", **overrides).method["loss"] == "sigmoid"


@pytest.mark.parametrize("call, message", [
    (lambda: retain.run(imports="x.py"), r"imports = 'x.py' is not allowed: imports must be a list of module names or .py paths"),
    (lambda: retain.run(imports=5), "imports = 5 is not allowed"),
    (lambda: retain.make_config("demo", imports=-1), "imports = -1 is not allowed"),
    (lambda: retain.make_config("demo", imports=["ok", 3]), r"imports\[1\] = 3 is not allowed"),
    (lambda: retain.run(out=123, dry_run=True), r"out = 123 is not allowed: out must be a path"),
    (lambda: retain.run(dry_run="yes"), "dry_run = 'yes' is not allowed"),
    (lambda: retain.load_results(5), "run_dir = 5 is not allowed: run_dir must be the path of a run directory"),
    (lambda: retain.load_results(None), "run_dir = None is not allowed"),
])
def test_arguments_of_the_wrong_type_are_refused_by_name(call, message):
    with pytest.raises(ConfigError, match=message):
        call()


def test_sweep_arguments_are_checked_before_anything_is_written(tmp_path):
    grid = {"base": {"preset": "demo", **FAST}, "axes": {"seed": [1]}}
    cases = [
        (([1, 2],), {}, r"grid = \[1, 2\] is not allowed: grid must be the path of a grid file"),
        (({"base": {"preset": "demo"}},), {}, r"Invalid grid mapping passed to retain.sweep: `axes`: Field required"),
        (({"base": {"preset": "demo"}, "axes": {}},), {}, "The grid mapping passed to retain.sweep has no axes"),
        (({"base": {"preset": "demo"}, "axes": {"seed": []}},), {},
         "`axes.seed` of the grid mapping passed to retain.sweep is an empty list"),
        ((grid,), {"executor": "slurm"}, r"executor = 'slurm' is not allowed: retain.sweep's executor must be 'local', 'ray'"),
        ((grid,), {"workers": 0}, r"workers = 0 is not allowed: workers must be a whole number >= 1"),
        ((grid,), {"out": 5}, "out = 5 is not allowed"),
        ((grid,), {"imports": "x.py"}, "imports = 'x.py' is not allowed"),
    ]
    for args, kwargs, message in cases:
        with pytest.raises(ConfigError, match=message) as caught:
            retain.sweep(*args, **{"out": tmp_path / "s", **kwargs})
        assert "--executor" not in str(caught.value) and "grid.yaml" not in str(caught.value)
        assert not (tmp_path / "s").exists()


def test_an_old_and_a_new_spelling_together_are_refused_as_on_the_command_line():
    for kwargs in ({"method": "maer", "memory__maer_policy": "min", "method__maer_policy": "max"},
                   {"method__maer_policy": "max", "method": "maer", "memory": {"maer_policy": "min"}}):
        with pytest.raises(ConfigError, match="set one setting twice; keep method.maer_policy"):
            retain.make_config("demo", **kwargs)


def test_a_grid_mapping_refused_by_its_cells_leaves_nothing_behind(tmp_path):
    grid = {"base": {"preset": "demo", **FAST}, "axes": {"seed": [1.0, 1]}}
    with pytest.raises(ConfigError, match="resolve to the same configuration"):
        retain.sweep(grid, out=tmp_path / "new")
    assert not (tmp_path / "new").exists()
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "grid.yaml").write_text("earlier grid\n")
    with pytest.raises(ConfigError):
        retain.sweep(grid, out=kept)
    assert (kept / "grid.yaml").read_text() == "earlier grid\n"
