"""The real tracking libraries: wandb (offline, its transaction log read back) and MLflow (a local
store, read back through its client) through a full run and a sweep; what lands is what results.json says.

MLflow's default SQLite store costs ~20-30 s to create (its schema migrations), so the default suite
uses MLflow's file store and the SQLite store runs with the slow tests.
"""

from __future__ import annotations

import json
import struct
import time
from pathlib import Path

import pytest
import yaml

from retain.runs.config import build_config
from retain.runs.loop import run
from retain.sweeps.sweep import run_sweep

SMALL = ["scenario.num_tasks=2", "train.epochs=1", "logging.tensorboard=false", "logging.report=false"]


@pytest.fixture
def wandb_env(tmp_path, monkeypatch):
    pytest.importorskip("wandb", reason="the test extra installs wandb")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wandb-home"))
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_MODE", "offline")
    (tmp_path / "wandb-home").mkdir()


def wandb_records(run_dir: Path, timeout: float = 60) -> list:
    """The records of the offline wandb run of a retain run, once its `exit` record is written (wandb's
    core process may still be flushing the log when `finish()` returns)."""
    deadline = time.monotonic() + timeout
    while True:
        records = _read_wandb_log(run_dir)
        if any(r.WhichOneof("record_type") == "exit" for r in records) or time.monotonic() > deadline:
            return records
        time.sleep(0.5)


def _read_wandb_log(run_dir: Path) -> list:
    """The .wandb transaction log: LevelDB-style 32 KiB blocks of chunks after a 7-byte W&B header,
    each record a wandb Record protobuf."""
    from wandb.proto import wandb_internal_pb2 as pb

    (path,) = run_dir.glob("wandb/offline-run-*/run-*.wandb")
    data, pos, buffer, records = path.read_bytes(), 7, b"", []
    assert data.startswith(b":W&B")
    while pos + 7 <= len(data):
        left = 32768 - pos % 32768
        if left < 7:
            pos += left
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if length == 0 and kind == 0:
            pos += left
            continue
        buffer += data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # a full record, or the last chunk of one
            record = pb.Record()
            record.ParseFromString(buffer)
            records.append(record)
            buffer = b""
    return records


def _items(items) -> dict[str, object]:
    return {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in items}


def wandb_logged(run_dir: Path) -> tuple[list[dict], dict, dict, list[str]]:
    """History rows, the final summary, the config and the artifact's files of a run's wandb run."""
    history, summary, config, files = [], {}, {}, []
    for record in wandb_records(run_dir):
        kind = record.WhichOneof("record_type")
        if kind == "history":
            history.append(_items(record.history.item))
        elif kind == "summary":
            summary.update(_items(record.summary.update))
        elif kind == "config":
            config.update(_items(record.config.update))
        elif kind == "run":
            config.update(_items(record.run.config.update))
        elif kind == "artifact":
            files += [entry.path for entry in record.artifact.manifest.contents]
    return history, summary, config, files


def _check_wandb(run_dir: Path) -> None:
    results = json.loads((run_dir / "results.json").read_text())
    history, summary, config, files = wandb_logged(run_dir)
    epochs = [row for row in history if "train/loss" in row]
    assert [row["train/epoch"] for row in epochs] == [1, 2], (run_dir, history)
    assert all(row["train/loss"] > 0 for row in epochs)
    tasks = [row for row in history if "accuracy_cnn/seen_classes" in row]
    assert [row["accuracy_cnn/seen_classes"] for row in tasks] == pytest.approx(results["accuracy"]["cnn"]["stage"])
    assert summary["last_accuracy"] == pytest.approx(results["metrics"]["last_accuracy"])
    assert summary["forgetting"] == pytest.approx(results["metrics"]["forgetting"])
    assert config["train"]["epochs"] == 1 and config["seed"] == results["seed"]
    assert {"results.json", "config.yaml", "plan.json"} <= set(files)
    assert (run_dir / "wandb_run_id.txt").read_text().strip() in {p.name.rsplit("-", 1)[1] for p in run_dir.glob("wandb/offline-run-*")}


def test_a_run_logs_its_curves_summary_config_and_files_to_wandb(tmp_path, wandb_env):
    config = build_config(preset="demo", overrides=[*SMALL, "logging.wandb={project: retain-test, mode: offline}"])
    run(config, out=tmp_path / "run")
    _check_wandb(tmp_path / "run")


def test_every_sweep_cell_is_its_own_wandb_run(tmp_path, wandb_env):
    grid = tmp_path / "grid.yaml"
    base = {"preset": "demo", "logging": {"wandb": {"project": "retain-test"}, "tensorboard": False, "report": False},
            "scenario": {"num_tasks": 2}, "train": {"epochs": 1}}
    grid.write_text(yaml.safe_dump({"base": base, "axes": {"seed": [0, 1]}, "out": str(tmp_path / "sweep")}))
    summary = run_sweep(grid)
    assert sorted(summary.finished) == ["seed=0", "seed=1"]
    ids = set()
    for cell in ("seed=0", "seed=1"):
        _check_wandb(tmp_path / "sweep" / cell)
        ids.add((tmp_path / "sweep" / cell / "wandb_run_id.txt").read_text())
    assert len(ids) == 2


@pytest.fixture
def mlflow_client_class(monkeypatch):
    pytest.importorskip("mlflow", reason="the test extra installs mlflow-skinny")
    from mlflow.tracking import MlflowClient

    return MlflowClient


def _check_mlflow(client, run_dir: Path) -> None:
    results = json.loads((run_dir / "results.json").read_text())
    run_id = (run_dir / "mlflow_run_id.txt").read_text().strip()
    tracked = client.get_run(run_id)
    assert tracked.info.status == "FINISHED" and tracked.info.run_name == run_dir.name
    assert tracked.data.params["train.epochs"] == "1" and tracked.data.params["seed"] == str(results["seed"])
    assert tracked.data.metrics["last_accuracy"] == pytest.approx(results["metrics"]["last_accuracy"])
    curve = client.get_metric_history(run_id, "accuracy_cnn_seen_classes")
    assert [(m.step, m.value) for m in sorted(curve, key=lambda m: m.step)] == \
        [(i + 1, pytest.approx(v)) for i, v in enumerate(results["accuracy"]["cnn"]["stage"])]
    assert [m.step for m in client.get_metric_history(run_id, "train_loss")] == [1, 2]
    assert {"results.json", "config.yaml", "plan.json"} <= {f.path for f in client.list_artifacts(run_id)}


def test_a_run_and_a_sweep_land_in_an_mlflow_file_store(tmp_path, monkeypatch, mlflow_client_class):
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 keeps its file store behind this switch
    uri = (tmp_path / "mlruns").as_uri()
    tracking = ["logging.mlflow=true", f"logging.mlflow_uri={uri}", "logging.mlflow_experiment=retain-test"]
    run(build_config(preset="demo", overrides=[*SMALL, *tracking]), out=tmp_path / "run")
    grid = tmp_path / "grid.yaml"
    base = {"preset": "demo", "logging": {"mlflow": True, "mlflow_uri": uri, "mlflow_experiment": "retain-test",
                                          "tensorboard": False, "report": False},
            "scenario": {"num_tasks": 2}, "train": {"epochs": 1}}
    grid.write_text(yaml.safe_dump({"base": base, "axes": {"seed": [0, 1]}, "out": str(tmp_path / "sweep")}))
    run_sweep(grid)
    client = mlflow_client_class(tracking_uri=uri)
    for run_dir in (tmp_path / "run", tmp_path / "sweep" / "seed=0", tmp_path / "sweep" / "seed=1"):
        _check_mlflow(client, run_dir)
    experiment = client.get_experiment_by_name("retain-test")
    assert len(client.search_runs([experiment.experiment_id])) == 3


@pytest.mark.slow
def test_the_default_mlflow_store_is_sqlite_next_to_the_run(tmp_path, mlflow_client_class):
    run(build_config(preset="demo", overrides=[*SMALL, "logging.mlflow=true"]), out=tmp_path / "run")
    assert (tmp_path / "mlflow.db").is_file()
    _check_mlflow(mlflow_client_class(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}"), tmp_path / "run")
