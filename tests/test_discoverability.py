"""`retain list` descriptions and parameters, resolved method parameters in config.yaml,
"did you mean" for unknown keys, and --resume with result-neutral changes."""

import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent / "faults"))  # the fault injector of the kill tests

from injector import injected  # noqa: E402
from retain.cli import app  # noqa: E402
from retain.errors import CheckpointError, ConfigError  # noqa: E402
from retain import catalog  # noqa: E402
from retain.runs.checkpoint import check_same_config, is_result_neutral  # noqa: E402
from retain.runs.config import build_config  # noqa: E402
from retain.runs.loop import resume_run, run  # noqa: E402
from retain.methods import get_method_class, method_names  # noqa: E402


def _cli(*args):
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "400"})


def test_every_kind_lists_full_descriptions():
    for kind in catalog.KINDS:
        rows = catalog.entries(kind)
        assert rows, kind
    methods = dict(catalog.entries("methods"))
    # The whole docstring, not its first line: a multi-line docstring keeps its last sentence.
    for name in method_names():
        doc = " ".join((inspect.getdoc(get_method_class(name)) or "").split())
        assert " ".join(methods[name].split()).startswith(doc)  # then its former names, if any
    assert "splittable" in dict(catalog.entries("backbones"))["resnet18"]
    assert dict(catalog.entries("policies"))["herding"]


def test_every_built_in_entry_says_what_it_is():
    """More than a tag like "(splittable: MEMO/DER)": read in a fresh process, so only the built-in
    entries are listed (other tests register plugins in this one)."""
    script = ("import json; from retain import catalog; "
              "print(json.dumps({kind: dict(catalog.entries(kind)) for kind in catalog.KINDS}))")
    listed = json.loads(subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout)
    for kind, rows in listed.items():
        for name, description in rows.items():
            assert len(description.split("(splittable")[0].strip()) > 20, (kind, name, description)
    assert "Rainbow Memory" in listed["grids"]["rm-blurry10-online"]
    assert "ResNet-32" in listed["backbones"]["resnet32"]


def test_every_method_parameter_has_type_default_and_help():
    for name in method_names():
        params = catalog.method_parameters(name)
        assert [p.name for p in params] == list(get_method_class(name).Params.model_fields), name
        for param in params:
            assert param.type and param.help and param.help != "-", (name, param.name)
    icarl = {p.name: p for p in catalog.method_parameters("icarl")}
    assert icarl["temperature"].default == 2.0 and icarl["temperature"].type == "float"
    assert "> 0" in icarl["temperature"].help and "distillation" in icarl["temperature"].help
    assert icarl["loss"].type == "'pycil' or 'sigmoid'" and "sigmoid" in icarl["loss"].help


def test_cli_list_kinds_and_method_parameters():
    out = _cli("list", "methods", "icarl")
    assert out.exit_code == 0, out.output
    assert "method.temperature" in out.output and "method.loss" in out.output and "2.0" in out.output
    policies = _cli("list", "policies")
    assert policies.exit_code == 0 and "reservoir" in policies.output and "finetune" not in policies.output
    backbones = _cli("list", "backbones")
    assert "resnet32" in backbones.output and "Conv-BN-ReLU" in backbones.output
    wrong = _cli("list", "polices")
    assert wrong.exit_code == 2 and "Did you mean 'policies'" in wrong.output
    unknown = _cli("list", "methods", "icrl")
    assert unknown.exit_code == 2 and "icarl" in unknown.output


def test_config_holds_resolved_method_parameters():
    cfg = build_config(preset="demo", overrides=["method.name=icarl"])
    assert cfg.method == {"name": "icarl", "loss": "pycil", "temperature": 2.0, "variant": "paper"}
    given = build_config(preset="demo", overrides=["method.name=icarl", "method.temperature=3"])
    assert given.method["temperature"] == 3.0
    # Validating the resolved tree again gives the same tree (config.yaml reads back unchanged).
    assert build_config(preset="demo", overrides=["method.name=icarl", "method.loss=pycil", "method.temperature=2.0"]).method == cfg.method


@pytest.mark.parametrize("override, suggestion", [
    ("train.epoch=1", "did you mean `train.epochs`"),
    ("tran.epochs=1", "did you mean `train`"),
    ("memory.polcy=herding", "did you mean `memory.policy`"),
    ("logging.tensorbord=false", "did you mean `logging.tensorboard`"),
])
def test_unknown_key_did_you_mean(override, suggestion):
    with pytest.raises(ConfigError, match="not a known setting") as info:
        build_config(preset="demo", overrides=[override])
    assert suggestion in str(info.value)


def test_unknown_method_parameter_did_you_mean():
    with pytest.raises(ConfigError) as info:
        build_config(preset="demo", overrides=["method.name=icarl", "method.temprature=3"])
    assert "`method.temprature` is not a known setting (did you mean `method.temperature`?)" in str(info.value)


def test_unrelated_unknown_key_gets_no_suggestion():
    with pytest.raises(ConfigError) as info:
        build_config(preset="demo", overrides=["train.zzzzqqq=1"])
    assert "did you mean" not in str(info.value)


def test_result_neutral_settings():
    for key in ("logging.mlflow", "logging.wandb.project", "eval.batch_size", "device", "checkpoint.every_epochs"):
        assert is_result_neutral(key)
    for key in ("train.epochs", "eval.every_epoch", "method.temperature", "seed", "devices"):
        assert not is_result_neutral(key)
    saved = {"train": {"epochs": 2}, "eval": {"batch_size": 8}, "device": "cpu"}
    assert check_same_config(saved, {**saved, "eval": {"batch_size": 64}}, "x", "d") == ["eval.batch_size: 8 != 64"]
    with pytest.raises(CheckpointError, match="train.epochs") as info:
        check_same_config(saved, {**saved, "train": {"epochs": 3}, "eval": {"batch_size": 64}}, "x", "d")
    assert "eval.batch_size" not in str(info.value).split("(config.yaml):")[1].split(".")[0]


def test_resume_accepts_neutral_changes_and_refuses_others(tmp_path):
    base = ["train.epochs=1", "method.name=finetune", "logging.report=false", "logging.tensorboard=false"]
    cfg = build_config(preset="demo", overrides=base)
    run(cfg, out=tmp_path / "r")
    saved = (tmp_path / "r" / "config.yaml").read_text()
    changed = build_config(tmp_path / "r" / "config.yaml", overrides=["train.epochs=2"])
    with pytest.raises(CheckpointError, match="train.epochs: 1 != 2"):
        resume_run(tmp_path / "r", changed)
    assert (tmp_path / "r" / "config.yaml").read_text() == saved
    neutral = build_config(tmp_path / "r" / "config.yaml", overrides=["eval.batch_size=7", "checkpoint.every_epochs=1"])
    resume_run(tmp_path / "r", neutral)  # complete: nothing to train, but the change is accepted
    # Through the CLI, --set alone is read against the run's own config, so only the key given is named.
    out = _cli("run", "--resume", str(tmp_path / "r"), "--set", "train.lr=0.5", "-q")
    assert out.exit_code == 2
    assert "train.lr" in out.output and "method." not in out.output and "logging" not in out.output.split("only")[0]


def test_resume_with_neutral_change_continues_and_records_it(tmp_path):
    base = ["train.epochs=1", "method.name=finetune", "logging.report=false", "logging.tensorboard=false"]
    cfg = build_config(preset="demo", overrides=base)
    with injected("evaluation@2", action="interrupt"), pytest.raises(KeyboardInterrupt):
        run(cfg, out=tmp_path / "r")
    neutral = build_config(tmp_path / "r" / "config.yaml", overrides=["eval.batch_size=7"])
    results = resume_run(tmp_path / "r", neutral)
    assert results["complete"]
    assert yaml.safe_load((tmp_path / "r" / "config.yaml").read_text())["eval"]["batch_size"] == 7


def test_checkpoints_of_runs_started_before_method_parameters_were_resolved_still_resume(tmp_path):
    # An older retain stored `method: {name: icarl}` in config.yaml and in every checkpoint.
    import torch

    from retain.runs.checkpoint import Checkpointer, save_checked

    base = ["train.epochs=1", "method.name=icarl", "logging.report=false", "logging.tensorboard=false"]
    with injected("evaluation@2", action="interrupt"), pytest.raises(KeyboardInterrupt):
        run(build_config(preset="demo", overrides=base), out=tmp_path / "r")
    saved = yaml.safe_load((tmp_path / "r" / "config.yaml").read_text())
    saved["method"] = {"name": "icarl"}
    (tmp_path / "r" / "config.yaml").write_text(yaml.safe_dump(saved))
    for path in Checkpointer(tmp_path / "r", {}, 0).files("task"):
        payload = torch.load(path, weights_only=True)
        payload["config"]["method"] = {"name": "icarl"}
        save_checked(path, payload)
    results = resume_run(tmp_path / "r")
    assert results["complete"]
    # A checkpoint whose method parameters really differ is still refused.
    other = tmp_path / "o"
    with injected("evaluation@2", action="interrupt"), pytest.raises(KeyboardInterrupt):
        run(build_config(preset="demo", overrides=base), out=other)
    for path in Checkpointer(other, {}, 0).files("task"):
        payload = torch.load(path, weights_only=True)
        payload["config"]["method"] = {"name": "icarl", "temperature": 3.0}
        save_checked(path, payload)
    with pytest.raises(CheckpointError, match="method.temperature: 2.0 != 3.0"):
        resume_run(other)


@pytest.mark.parametrize("field, kind", [("method.name", "method"), ("memory.policy", "memory policy"),
                                         ("model.backbone", "backbone")])
def test_an_unknown_name_of_a_kind_users_add_says_how_to_import_theirs(field, kind):
    """A plugin's name used without importing the plugin: the error says how to import it; a near
    miss gets the suggestion instead."""
    with pytest.raises(ConfigError) as info:
        build_config(preset="demo", overrides=[f"{field}=zz_my_own"])
    said = " ".join(str(info.value).split())
    assert f"If 'zz_my_own' is a {kind} of your own, import the module or file that registers it: --import" in said
    with pytest.raises(ConfigError) as near:
        build_config(preset="demo", overrides=["method.name=icarll"])
    assert "Did you mean 'icarl'?" in str(near.value) and "of your own" not in str(near.value)
