"""Live logging: TensorBoard scalars per epoch and per task; MLflow through its client when enabled."""

import sys
import types
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from retain.errors import ConfigError
from retain.runs.config import build_config
from retain.launch import launch as run  # as `retain run`: the end-of-run report and its upload included

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

    def log_artifact(self, run_id, local_path, artifact_path=None):
        self.calls.append(("artifact", Path(local_path).name, artifact_path))


def test_mlflow_logs_params_and_metrics_through_its_client(tmp_path, monkeypatch):
    fake = types.ModuleType("mlflow")
    fake.tracking = types.ModuleType("mlflow.tracking")
    fake.tracking.MlflowClient = _FakeClient
    monkeypatch.setitem(sys.modules, "mlflow", fake)
    monkeypatch.setitem(sys.modules, "mlflow.tracking", fake.tracking)
    _FakeClient.calls = []
    results = run(build_config(preset="demo", overrides=[*SMALL[:-1], "logging.mlflow=true", "logging.tensorboard=false"]),
                  out=tmp_path / "run")
    calls = _FakeClient.calls
    assert calls[0] == ("uri", f"sqlite:///{tmp_path.resolve() / 'mlflow.db'}")
    assert ("experiment", "demo") in calls and ("param", "train.epochs", "2") in calls
    assert ("param", "method.temperature", "2.0") not in calls  # replay has no temperature
    assert ("metric", "train_loss", 4) in calls and ("metric", "accuracy_cnn_seen_classes", 2) in calls
    # The summary metrics, once, at the last task.
    for key in ("average_incremental_accuracy", "last_accuracy", "forgetting"):
        assert [c for c in calls if c[:2] == ("metric", key)] == [("metric", key, 2)]
    assert results["metrics"]["last_accuracy"] == results["stage_accuracy"][-1]
    artifacts = {c[1]: c[2] for c in calls if c[0] == "artifact"}
    assert {"results.json", "config.yaml", "report.md", "runs.csv"} <= set(artifacts)
    plots = [name for name, where in artifacts.items() if where == "plots"]
    assert "accuracy_per_task.png" in plots and "accuracy_per_task.pdf" in plots
    assert calls[-1] == ("end", "FINISHED")
    assert (tmp_path / "run" / "mlflow_run_id.txt").read_text().strip() == "r1"


def test_mlflow_missing_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)
    monkeypatch.setitem(sys.modules, "mlflow.tracking", None)
    with pytest.raises(ConfigError, match=r"pip install 'retain\[mlflow\]'"):
        run(build_config(preset="demo", overrides=[*SMALL, "logging.mlflow=true"]), out=tmp_path / "run")


def test_loss_terms_summary_and_hparams_in_tensorboard(tmp_path):
    # icarl returns (ce + kd, {"ce", "kd"}) once it has a teacher (task 2 on).
    overrides = ["train.epochs=2", "scenario.num_tasks=2", "method.name=icarl", "memory.budget=40 images", "logging.report=false"]
    results = run(build_config(preset="demo", overrides=overrides), out=tmp_path / "run")
    epochs = _scalars(tmp_path / "run" / "tensorboard" / "epochs")
    assert [step for step, _ in epochs["train/loss_kd"]] == [3, 4]  # no teacher in task 1: no terms
    for (step, loss), (_, ce), (_, kd) in zip(epochs["train/loss"][2:], epochs["train/loss_ce"], epochs["train/loss_kd"]):
        assert loss == pytest.approx(ce + kd, rel=1e-5)  # the epoch means of the terms add up to the loss's
        assert kd > 0
    tasks = _scalars(tmp_path / "run" / "tensorboard" / "tasks")
    for key in ("average_incremental_accuracy", "last_accuracy", "forgetting"):
        assert tasks[f"summary/{key}"] == [(2, pytest.approx(results["metrics"][key]))]
    hparams = EventAccumulator(str(tmp_path / "run" / "tensorboard" / "hparams"))
    hparams.Reload()
    content = hparams.PluginTagToContent("hparams")
    assert "_hparams_/session_start_info" in content and b"icarl" in content["_hparams_/session_start_info"]
    assert _scalars(tmp_path / "run" / "tensorboard" / "hparams")["hparam/last_accuracy"][0][1] == pytest.approx(
        results["metrics"]["last_accuracy"])


class _FakeWandbRun:
    def __init__(self, **kwargs):
        self.init = kwargs
        self.id = kwargs["id"]
        self.logged, self.summary, self.defined, self.artifacts, self.exit_code = [], {}, [], [], None

    def define_metric(self, name, step_metric=None):
        self.defined.append((name, step_metric))

    def log(self, values):
        self.logged.append(dict(values))

    def log_artifact(self, artifact):
        self.artifacts.append(artifact)

    def finish(self, exit_code=0):
        self.exit_code = exit_code


class _FakeArtifact:
    def __init__(self, name, type):
        self.name, self.type, self.files = name, type, []

    def add_file(self, path, name=None):
        self.files.append(name)


def _fake_wandb(monkeypatch):
    fake = types.ModuleType("wandb")
    fake.runs = []

    def init(**kwargs):
        fake.runs.append(_FakeWandbRun(**kwargs))
        return fake.runs[-1]

    fake.init = init
    fake.Artifact = _FakeArtifact
    fake.util = types.SimpleNamespace(generate_id=lambda: f"id{len(fake.runs)}")
    monkeypatch.setitem(sys.modules, "wandb", fake)
    return fake


def test_wandb_offline_logs_config_curves_summary_and_files(tmp_path, monkeypatch):
    fake = _fake_wandb(monkeypatch)
    overrides = [*SMALL[:-1], "logging.tensorboard=false", "logging.wandb={project: cl, mode: offline}"]
    results = run(build_config(preset="demo", overrides=overrides), out=tmp_path / "run")
    (wb,) = fake.runs
    assert wb.init["project"] == "cl" and wb.init["mode"] == "offline" and wb.init["dir"] == str(tmp_path / "run")
    assert wb.init["config"]["train"]["epochs"] == 2 and wb.init["config"]["logging"]["wandb"]["project"] == "cl"
    assert ("train/*", "train/epoch") in wb.defined
    epochs = [entry for entry in wb.logged if "train/epoch" in entry]
    assert [e["train/epoch"] for e in epochs] == [1, 2, 3, 4] and all("train/loss" in e for e in epochs)
    tasks = [entry for entry in wb.logged if "task" in entry]
    assert [t["accuracy_cnn/seen_classes"] for t in tasks] == pytest.approx(results["stage_accuracy"])
    assert wb.summary["last_accuracy"] == pytest.approx(results["metrics"]["last_accuracy"])
    (artifact,) = wb.artifacts
    assert {"results.json", "config.yaml", "report.md", "plots/accuracy_per_task.png"} <= set(artifact.files)
    assert wb.exit_code == 0
    assert (tmp_path / "run" / "wandb_run_id.txt").read_text().strip() == wb.id


def test_wandb_missing_says_how_to_install_before_anything_is_written(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)
    with pytest.raises(ConfigError, match=r"pip install 'retain\[wandb\]'"):
        run(build_config(preset="demo", overrides=[*SMALL, "logging.wandb.project=cl"]), out=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_wandb_settings_are_strict():
    with pytest.raises(ConfigError, match="logging.wandb.mode"):
        build_config(preset="demo", overrides=["logging.wandb={project: cl, mode: sometimes}"])
    with pytest.raises(ConfigError, match="did you mean `logging.wandb.project`"):
        build_config(preset="demo", overrides=["logging.wandb={projekt: cl}"])


def test_a_new_sink_is_one_class(tmp_path, monkeypatch):
    from retain import tracking

    seen = []

    class Recorder(tracking.Sink):
        @classmethod
        def enabled(cls, config):
            return True

        def epoch(self, step, values):
            seen.append(("epoch", step))

        def task(self, step, values):
            seen.append(("task", step))

        def summary(self, step, metrics):
            seen.append(("summary", step, sorted(metrics)[:1]))

        def close(self, finished):
            seen.append(("close", finished))

    monkeypatch.setattr(tracking, "SINK_CLASSES", [*tracking.SINK_CLASSES])
    tracking.register_sink(Recorder)
    run(build_config(preset="demo", overrides=[*SMALL, "logging.tensorboard=false"]), out=tmp_path / "run")
    assert seen == [("epoch", 1), ("epoch", 2), ("task", 1), ("epoch", 3), ("epoch", 4), ("task", 2),
                    ("summary", 2, ["average_incremental_accuracy"]), ("close", True)]
