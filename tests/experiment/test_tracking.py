"""Live logging: TensorBoard scalars per epoch and per task; MLflow through its client when enabled."""

import sys
import types

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from retain.errors import ConfigError
from retain.experiment.config import build_config
from retain.experiment.run import run

SMALL = ["train.epochs=2", "scenario.num_tasks=2", "method.name=replay", "memory.budget=40 images", "logging.report=false"]


def _scalars(path):
    events = EventAccumulator(str(path))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def test_tensorboard_logs_loss_lr_accuracy_and_ledger(tmp_path):
    results = run(build_config(preset="demo", overrides=SMALL), out=tmp_path / "run")
    epochs = _scalars(tmp_path / "run" / "tensorboard" / "epochs")
    assert [step for step, _ in epochs["train/loss"]] == [1, 2, 3, 4]  # 2 tasks x 2 epochs
    assert epochs["train/lr"][0][1] == pytest.approx(0.05)
    tasks = _scalars(tmp_path / "run" / "tensorboard" / "tasks")
    assert [v for _, v in tasks["accuracy_cnn/seen_classes"]] == pytest.approx(results["stage_accuracy"])
    assert tasks["accuracy_cnn/task_1"][1][1] == pytest.approx(results["accuracy_matrix"][1][0])
    assert tasks["memory/total_bytes"][-1][1] == results["ledger"][-1]["total_bytes"]


class _FakeClient:
    calls: list = []

    def __init__(self, tracking_uri):
        self.calls.append(("uri", tracking_uri))

    def get_experiment_by_name(self, name):
        return None

    def create_experiment(self, name):
        self.calls.append(("experiment", name))
        return "1"

    def create_run(self, experiment_id, run_name):
        return types.SimpleNamespace(info=types.SimpleNamespace(run_id="r1"))

    def log_param(self, run_id, key, value):
        self.calls.append(("param", key, value))

    def log_metric(self, run_id, key, value, step):
        self.calls.append(("metric", key, step))

    def set_terminated(self, run_id, status):
        self.calls.append(("end", status))


def test_mlflow_logs_params_and_metrics_through_its_client(tmp_path, monkeypatch):
    fake = types.ModuleType("mlflow")
    fake.tracking = types.ModuleType("mlflow.tracking")
    fake.tracking.MlflowClient = _FakeClient
    monkeypatch.setitem(sys.modules, "mlflow", fake)
    monkeypatch.setitem(sys.modules, "mlflow.tracking", fake.tracking)
    _FakeClient.calls = []
    run(build_config(preset="demo", overrides=[*SMALL, "logging.mlflow=true", "logging.tensorboard=false"]), out=tmp_path / "run")
    calls = _FakeClient.calls
    assert calls[0] == ("uri", f"sqlite:///{tmp_path.resolve() / 'mlflow.db'}")
    assert ("experiment", "demo") in calls and ("param", "train.epochs", "2") in calls
    assert ("metric", "train_loss", 4) in calls and ("metric", "accuracy_cnn_seen_classes", 2) in calls
    assert calls[-1] == ("end", "FINISHED")
    assert (tmp_path / "run" / "mlflow_run_id.txt").read_text().strip() == "r1"


def test_mlflow_missing_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)
    monkeypatch.setitem(sys.modules, "mlflow.tracking", None)
    with pytest.raises(ConfigError, match=r"pip install 'retain\[mlflow\]'"):
        run(build_config(preset="demo", overrides=[*SMALL, "logging.mlflow=true"]), out=tmp_path / "run")
