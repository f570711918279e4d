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
