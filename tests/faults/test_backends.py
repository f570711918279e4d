"""Optional back-ends (MLflow, Ray) are checked before anything is written, and the install hint
prints literally (rich would read `[mlflow]` as markup and drop it)."""

from __future__ import annotations

import sys
import types

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


class _SchemeCheckingClient:
    """Stands in for mlflow.tracking.MlflowClient, which raises on a URI scheme it has no store
    for (the test extra does not install MLflow, so its real client is not always here)."""

    def __init__(self, tracking_uri: str) -> None:
        if not tracking_uri.startswith(("file:", "sqlite:", "http:", "https:")):
            raise ValueError(f"Could not find a registered tracking store for URI: {tracking_uri}")


def test_an_mlflow_uri_it_cannot_use_is_reported_before_the_run_directory_exists(tmp_path, monkeypatch):
    fake = types.ModuleType("mlflow")
    fake.tracking = types.ModuleType("mlflow.tracking")
    fake.tracking.MlflowClient = _SchemeCheckingClient
    monkeypatch.setitem(sys.modules, "mlflow", fake)
    monkeypatch.setitem(sys.modules, "mlflow.tracking", fake.tracking)
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", "--set", "logging.mlflow=true", "--set", "logging.mlflow_uri=nosuch://x", "--out", str(out)])
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert "logging.mlflow_uri = 'nosuch://x'" in message
    assert "registered tracking store" in message  # MLflow's own reason is passed on
    assert not out.exists()


def test_missing_ray_is_reported_before_the_sweep_directory_exists(tmp_path, monkeypatch):
    _missing(monkeypatch, "ray")
    grid = tmp_path / "grid.yaml"
    grid.write_text(yaml.safe_dump({"base": {"preset": "demo"}, "axes": {"seed": [0]}, "out": str(tmp_path / "sweep")}))
    result = CliRunner().invoke(app, ["sweep", str(grid), "--executor", "ray"])
    assert result.exit_code == 2
    assert "pip install 'retain[ray]'" in result.output
    assert not (tmp_path / "sweep").exists()


def test_a_sweep_whose_cells_log_to_a_missing_wandb_is_refused_before_its_directory_exists(tmp_path, monkeypatch):
    _missing(monkeypatch, "wandb")
    grid = tmp_path / "grid.yaml"
    base = {"preset": "demo", "logging": {"wandb": {"project": "x"}}}
    grid.write_text(yaml.safe_dump({"base": base, "axes": {"seed": [0, 1]}, "out": str(tmp_path / "sweep")}))
    result = CliRunner().invoke(app, ["sweep", str(grid)])
    assert result.exit_code == 2, result.output
    assert "pip install 'retain[wandb]'" in result.output
    assert "Grid cell" in result.output  # the cell is named
    assert not (tmp_path / "sweep").exists()
