"""Quiet by default (issue 26): a note about an ignored setting once per run and none under -q,
the augmentation line only with -v, no lock file left after a clean exit, a --help that shows
flags as flags, and a --version that does not import torch."""

import json
import subprocess
import sys

SMALL = ["--set", "method.name=finetune", "--set", "memory.budget=40 images", "--set", "scenario.num_tasks=2",
         "--set", "train.epochs=1", "--set", "logging.tensorboard=false"]


def _retain(*args, cwd):
    return subprocess.run([sys.executable, "-m", "retain", *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_an_ignored_setting_is_noted_once_and_not_under_quiet(tmp_path):
    shown = _retain("run", *SMALL, "--out", "a", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert shown.stderr.count("keeps no memory") == 1
    assert "augmentation" not in shown.stderr  # -v only
    quiet = _retain("run", *SMALL, "--out", "b", "-q", cwd=tmp_path)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr.strip() == "" and quiet.stdout.strip() == ""
    verbose = _retain("run", *SMALL, "--out", "c", "-v", cwd=tmp_path)
    assert "augmentation (train)" in verbose.stderr
    for run in ("a", "b", "c"):
        assert (tmp_path / run / "results.json").is_file()
        assert not (tmp_path / run / ".retain.lock").exists()  # the writer deleted its lock
        assert not (tmp_path / run / "plots").exists()  # figures: `retain report`
        assert "retain report" in (tmp_path / run / "report.md").read_text()


def test_help_shows_flags_without_a_type(tmp_path):
    proc = _retain("run", "--help", cwd=tmp_path)
    assert proc.returncode == 0
    assert "--dry-run" in proc.stdout and "<bool>" not in proc.stdout
    assert "KEY=VALUE" in proc.stdout  # --set's value, not <list[str]>


def test_version_names_torch_without_importing_it(tmp_path):
    code = ("import json, sys\nfrom retain.cli import main\nsys.argv = ['retain', '--version']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\nprint(json.dumps('torch' in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    import torch

    lines = proc.stdout.strip().splitlines()
    assert lines[1] == f"torch {torch.__version__}"
    if torch.version.cuda is None:  # a CPU build can use no GPU: nothing to ask torch
        assert lines[2] == "device cpu (torch is a CPU build)" and json.loads(lines[-1]) is False


def test_every_command_shows_a_deprecation_as_one_line_without_the_source(tmp_path):
    """`retain list methods er-mixed` printed Python's warning with the file, line and source of
    the code that warned; every command now shows it as retain's own warning line."""
    shown = _retain("list", "methods", "er-mixed", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "warning: method.name='er-mixed' is deprecated" in shown.stderr
    assert "cli.py" not in shown.stderr and "RetainDeprecationWarning" not in shown.stderr
