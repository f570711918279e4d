"""retain as a package: `python -m build` makes a wheel and an sdist, and the wheel installs and runs in a fresh venv."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import retain

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    """Wheel and sdist built from a copy of the project (so no egg-info lands in the work tree)."""
    pytest.importorskip("build", reason="the packaging test needs `build` (pip install 'retain[test]')")
    source = tmp_path_factory.mktemp("project")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "src" / "retain", source / "src" / "retain", ignore=shutil.ignore_patterns("__pycache__"))
    out = source / "dist"
    # --no-isolation: build with the setuptools already installed, so the test needs no index.
    proc = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(source)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "deprecated" not in (proc.stdout + proc.stderr).lower()
    return out


def test_the_wheel_holds_the_package_its_presets_and_the_command(dist):
    version = retain.__version__
    (wheel,) = dist.glob(f"retain-{version}-py3-none-any.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = archive.read(f"retain-{version}.dist-info/METADATA").decode()
        entry_points = archive.read(f"retain-{version}.dist-info/entry_points.txt").decode()
    shipped_presets = {p.name for p in (ROOT / "src/retain/scenarios/presets").glob("*.yaml")}
    assert {Path(n).name for n in names if n.startswith("retain/scenarios/presets/")} == shipped_presets
    assert {"retain/__init__.py", "retain/api.py", "retain/data/huggingface.py", "retain/registry.py"} <= names
    assert "retain/builtin_catalog.json" in names  # what `retain list` reads without torch
    shipped_lists = {p.name for p in (ROOT / "src/retain/data/classes").glob("*.txt")}
    assert {Path(n).name for n in names if n.startswith("retain/data/classes/")} == shipped_lists  # ImageNet class lists
    assert not any(n.startswith(("tests/", "examples/", "benchmarks/")) for n in names)
    assert "retain = retain.cli:main" in entry_points
    assert f"Version: {version}" in metadata
    for extra in ("test", "ray", "mlflow", "wandb", "hf"):
        assert f"Provides-Extra: {extra}" in metadata
    assert 'Requires-Dist: datasets>=2.16; extra == "hf"' in metadata
    assert not any(line.startswith("Requires-Dist: ray") and "extra" not in line for line in metadata.splitlines())


def test_the_sdist_builds_the_same_package(dist):
    (sdist,) = dist.glob(f"retain-{retain.__version__}.tar.gz")
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert {"pyproject.toml", "README.md", "LICENSE", "src/retain/cli.py", "src/retain/scenarios/presets/demo.yaml"} <= names


@pytest.mark.slow
def test_the_wheel_installs_into_a_fresh_venv_and_runs_the_demo(dist, tmp_path):
    # A few minutes: a new venv, CPU torch pinned as the README says, the wheel and its dependencies.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "-c", str(ROOT / "constraints.txt")]
    subprocess.run([*pip, "torch==2.13.0"], check=True, timeout=1200)
    (wheel,) = dist.glob("*.whl")
    subprocess.run([*pip, str(wheel)], check=True, timeout=1200)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # only what the venv has
    command = str(venv / "bin" / "retain")
    version = subprocess.run([command, "--version"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert version.returncode == 0, version.stderr
    assert version.stdout.splitlines()[:2] == [f"retain {retain.__version__}", "torch 2.13.0+cpu"]
    assert version.stdout.splitlines()[2].startswith("device ")
    demo = subprocess.run([command, "run", "--out", "demo"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=1200)
    assert demo.returncode == 0, demo.stderr[-3000:]
    assert "average incremental accuracy" in demo.stdout and (tmp_path / "demo" / "results.json").is_file()
    installed = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "list"], capture_output=True, text=True, env=env).stdout
    assert "pytest" not in installed and "ray" not in installed  # the demo needs none of the extras
