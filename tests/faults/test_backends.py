"""Optional back-ends (MLflow, Ray) are checked before anything is written, and the install hint
prints literally (rich would read `[mlflow]` as markup and drop it)."""

from __future__ import annotations

import sys

import yaml
from typer.testing import CliRunner

from retain.cli import app


def _missing(monkeypatch, *modules: str) -> None:
    """Make `import <module>` fail as if the package were not installed."""
    for name in modules:
        monkeypatch.setitem(sys.modules, name, None)


def test_missing_mlflow_is_reported_before_the_run_directory_exists(tmp_path, monkeypatch):
    _missing(monkeypatch, "mlflow", "mlflow.tracking")
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", "--set", "logging.mlflow=true", "--out", str(out)])
    assert result.exit_code == 2
    assert "pip install 'retain[mlflow]'" in result.output
    assert "logging.mlflow" in result.output
    assert not out.exists()  # the same --out can be used once MLflow is installed


def test_an_mlflow_uri_it_cannot_use_is_reported_before_the_run_directory_exists(tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", "--set", "logging.mlflow=true", "--set", "logging.mlflow_uri=nosuch://x", "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert "logging.mlflow_uri = 'nosuch://x'" in " ".join(result.output.split())
    assert not out.exists()


def test_missing_ray_is_reported_before_the_sweep_directory_exists(tmp_path, monkeypatch):
    _missing(monkeypatch, "ray")
    grid = tmp_path / "grid.yaml"
    grid.write_text(yaml.safe_dump({"base": {"preset": "demo"}, "axes": {"seed": [0]}, "out": str(tmp_path / "sweep")}))
    result = CliRunner().invoke(app, ["sweep", str(grid), "--executor", "ray"])
    assert result.exit_code == 2
    assert "pip install 'retain[ray]'" in result.output
    assert not (tmp_path / "sweep").exists()
