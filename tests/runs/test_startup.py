"""Start-up stays light: the CLI and a run up to its first training step import no plotting,
TensorBoard, scikit-learn, MLflow or Ray (they cost seconds and are needed later, if at all)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ["matplotlib", "tensorboard", "torch.utils.tensorboard", "sklearn", "mlflow", "ray"]
FASHION = Path("/usr/share/datasets/fashion-mnist")


def imported_heavy(code: str, *args: str) -> list[str]:
    """Run `code` in a fresh interpreter; it prints sys.modules as JSON on its last line."""
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    modules = json.loads(out.stdout.strip().splitlines()[-1])
    return [name for name in HEAVY if name in modules]


def test_importing_the_cli_loads_nothing_heavy():
    assert imported_heavy("import json, sys, retain.cli; print(json.dumps(sorted(sys.modules)))") == []


@pytest.mark.skipif(not FASHION.is_dir(), reason="needs the dataset-fashion-mnist package")
def test_run_reaches_its_first_step_without_heavy_imports(tmp_path):
    # The first batch gathered is the first step: report the modules loaded by then and stop.
    code = (
        "import json, os, sys\n"
        "import retain.engine.sampling as sampling\n"
        "def first_step(*args, **kwargs):\n"
        "    print(json.dumps(sorted(sys.modules)), flush=True)\n"
        "    os._exit(0)\n"
        "sampling.gather = first_step\n"
        "from retain.cli import main\n"
        "sys.argv = ['retain', 'run', '--preset', 'fmnist-b0-inc2', '--set', 'train.epochs=1', '--out', sys.argv[1], '-q']\n"
        "main()\n"
    )
    assert imported_heavy(code, str(tmp_path / "run")) == []


def test_torch_is_imported_with_the_gc_paused_then_frozen(tmp_path):
    """`retain run` in a fresh process freezes the objects of torch's import (so no later collection
    walks them) and leaves the GC on; nothing imports torch._dynamo (training neither:
    tests/engine/test_optim.py)."""
    code = (
        "import gc, json, sys\n"
        "from retain.cli import main\n"
        "try:\n"
        "    main(['run', '--preset', 'demo', '--dry-run', '--forecast-steps', '0', '-q', '--out', sys.argv[1]])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(json.dumps({'frozen': gc.get_freeze_count(), 'enabled': gc.isenabled(),\n"
        "                  'dynamo': 'torch._dynamo' in sys.modules}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "run")], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    state = json.loads(out.stdout.strip().splitlines()[-1])
    assert state["frozen"] > 100_000 and state["enabled"] and not state["dynamo"], state


def test_a_process_that_already_imported_torch_keeps_its_gc(tmp_path):
    from typer.testing import CliRunner

    import gc
    import torch  # noqa: F401 - imported before the command, as in a test session

    from retain.cli import app

    frozen = gc.get_freeze_count()
    result = CliRunner().invoke(app, ["run", "--preset", "demo", "--dry-run", "-q", "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert gc.get_freeze_count() == frozen and gc.isenabled()
