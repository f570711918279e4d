"""The `retain` command as a user runs it: a subprocess, exit codes and what it prints."""

import json
import subprocess
import sys

import pytest

from retain.errors import ConfigError


def _retain(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "retain", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_run_without_arguments_uses_demo_and_prints_table(tmp_path):
    proc = _retain("run", "--set", "train.epochs=2", "--out", "r", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "icarl on digits" in proc.stdout
    assert "acc (NME) %" in proc.stdout and "memory bytes" in proc.stdout
    assert "average incremental accuracy" in proc.stdout
    results = json.loads((tmp_path / "r" / "results.json").read_text())
    assert results["preset"] == "demo"


def test_dry_run_prints_plan(tmp_path):
    proc = _retain("run", "--preset", "fmnist-b0-inc2", "--dry-run", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "T-shirt/top" in proc.stdout and "Ankle boot" in proc.stdout
    assert not (tmp_path / "runs").exists()


def test_list_shows_methods_presets_datasets(tmp_path):
    proc = _retain("list", cwd=tmp_path)
    assert proc.returncode == 0
    for word in ("finetune", "joint", "demo", "fmnist-b0-inc2", "fashion-mnist", "cifar100"):
        assert word in proc.stdout


def _assert_clean_failure(proc, *needles):
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    message = proc.stderr.replace("\n", " ")
    for needle in needles:
        assert needle in message, message


def test_unknown_method_fails_cleanly(tmp_path):
    _assert_clean_failure(_retain("run", "--set", "method.name=fintune", cwd=tmp_path), "method.name", "finetune")


def test_negative_epochs_fails_cleanly(tmp_path):
    _assert_clean_failure(_retain("run", "--set", "train.epochs=-3", cwd=tmp_path), "train.epochs", "-3")


def test_missing_dataset_dir_fails_cleanly(tmp_path):
    proc = _retain(
        "run", "--set", "data.name=cifar10", "--set", f"data.dir={tmp_path / 'nowhere'}", "--set", "data.download=false",
        cwd=tmp_path,
    )
    _assert_clean_failure(proc, "nowhere")
    assert not (tmp_path / "runs").exists()


def test_device_auto_is_a_device_name_the_config_accepts():
    """`--device auto` (documented: a GPU when there is one, one per rank under --nproc) passes the
    config's name check, which refuses names torch does not know."""
    from retain.runs.config import build_config

    assert build_config(preset="demo", overrides=["device=auto"]).device == "auto"
    with pytest.raises(ConfigError, match="gpu9"):
        build_config(preset="demo", overrides=["device=gpu9"])


def test_former_names_are_accepted_with_a_one_line_warning(tmp_path):
    proc = _retain("run", "--preset", "demo", "--set", "method.name=er-mixed", "--set", "memory.maer_policy=min",
                   "--dry-run", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "warning: method.name='er-mixed' is deprecated: it is now method.name='er_mixed'" in proc.stderr
    assert "warning: memory.maer_policy is deprecated: it is now method.maer_policy" in proc.stderr
    assert "RetainDeprecationWarning" not in proc.stderr and ".py:" not in proc.stderr  # the message, not the code
    listed = _retain("list", "methods", "er-mixed", cwd=tmp_path)
    assert listed.returncode == 0 and listed.stdout.startswith("er_mixed: ")
