"""Live logging of a run: TensorBoard event files in the run directory, MLflow when asked for.

Everything is logged once per epoch (the mean loss the trainer already brought to the host) or
once per task, so logging adds no host synchronisation inside the step loop.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from retain.errors import ConfigError
from retain.experiment.config import RetainConfig

TENSORBOARD_DIR = "tensorboard"
MLFLOW_RUN_FILE = "mlflow_run_id.txt"
MLFLOW_INSTALL_HINT = "install it with `pip install 'retain[mlflow]'` (or `pip install mlflow`), or set logging.mlflow=false"


def check_backends(config: RetainConfig) -> None:
    """Fail before anything is written when a configured logging back-end cannot be used."""
    if config.logging.mlflow:
        client_class = _mlflow_client_class()
        if config.logging.mlflow_uri:  # the default local SQLite store always works; a given URI is tried now
            _mlflow_client(client_class, config.logging.mlflow_uri)


def _mlflow_client_class():
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise ConfigError(f"logging.mlflow = true but MLflow is not installed; {MLFLOW_INSTALL_HINT}.") from None
    return MlflowClient


def _mlflow_client(client_class, uri: str):
    try:
        return client_class(tracking_uri=uri)
    except Exception as exc:  # MLflow refuses an unknown scheme or an unreachable store with its own types
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise ConfigError(
            f"logging.mlflow_uri = {uri!r} cannot be used by MLflow ({first}); give a file:, sqlite:, http(s): "
            "or database URI, or leave it unset for a local SQLite store."
        ) from None


class Tracker:
    """Writes a run's curves: loss and lr per epoch, accuracies and ledger bytes per task.

    TensorBoard gets two event folders: `tensorboard/epochs` (x = epochs trained so far in the
    run) and `tensorboard/tasks` (x = tasks learned). A resumed run purges what the killed run
    logged after its checkpoint, so curves have no duplicated steps.
    """

    def __init__(self, run_dir: Path, config: RetainConfig, resume_epoch: int = 0, resume_task: int = 0) -> None:
        self.run_dir = Path(run_dir)
        self.config = config
        self._epochs = self._tasks = None
        # Whether an earlier, killed attempt logged here, decided now (before anything is written).
        self._resume = (resume_epoch, resume_task) if (self.run_dir / TENSORBOARD_DIR).exists() else None
        self._mlflow = MlflowSink(self.run_dir, config) if config.logging.mlflow else None

    def _open_tensorboard(self) -> bool:
        """Open the event writers at the first value logged: importing TensorBoard costs start-up
        time that the first training step need not wait for. False when TensorBoard is off."""
        if not self.config.logging.tensorboard:
            return False
        if self._epochs is None:
            from torch.utils.tensorboard import SummaryWriter

            root = self.run_dir / TENSORBOARD_DIR
            # Events the killed attempt logged after its checkpoint are purged (steps >= purge_step).
            epoch, task = self._resume if self._resume is not None else (None, None)
            self._epochs = SummaryWriter(str(root / "epochs"), purge_step=None if epoch is None else epoch + 1)
            self._tasks = SummaryWriter(str(root / "tasks"), purge_step=None if task is None else task + 1)
        return True

    def epoch(self, global_epoch: int, task: int, phase: str, loss: float, lr: float) -> None:
        """One finished epoch (global_epoch counts epochs over the whole run, from 1)."""
        values = {"train/loss": loss, "train/lr": lr, "train/task": task + 1}
        if self._open_tensorboard():
            for key, value in values.items():
                self._epochs.add_scalar(key, value, global_epoch)
        if self._mlflow is not None:
            self._mlflow.log({"train_loss": loss, "train_lr": lr}, global_epoch)

    def task(self, results: dict[str, Any]) -> None:
        """After a task's evaluation: accuracy on seen classes, per task column, and ledger bytes."""
        step = len(results["stage_accuracy"])
        values: dict[str, float] = {}
        for name, entry in results["accuracy"].items():
            values[f"accuracy_{name}/seen_classes"] = entry["stage"][-1]
            values[f"accuracy_{name}/seen_classes_top5"] = entry["stage_top5"][-1]
            for j, acc in enumerate(entry["matrix"][-1][:step]):
                values[f"accuracy_{name}/task_{j + 1}"] = acc
        if results.get("ledger"):
            last = results["ledger"][-1]
            values["memory/total_bytes"] = last["total_bytes"]
            values["memory/budget_bytes"] = last["budget_bytes"]
            for item, size in last["items"].items():
                values[f"memory/{item}_bytes"] = size
        if self._open_tensorboard():
            for key, value in values.items():
                self._tasks.add_scalar(key, value, step)
            self._tasks.flush()
            self._epochs.flush()
        if self._mlflow is not None:
            self._mlflow.log({key.replace("/", "_"): value for key, value in values.items()}, step)

    def close(self, finished: bool) -> None:
        for writer in (self._epochs, self._tasks):
            if writer is not None:
                writer.close()
        if self._mlflow is not None:
            self._mlflow.close(finished)


class MlflowSink:
    """One MLflow run per retain run, in a local SQLite store unless logging.mlflow_uri says otherwise.

    The MLflow run id is kept in the run directory so that a resumed run logs into the same run.
    """

    def __init__(self, run_dir: Path, config: RetainConfig) -> None:
        from retain.experiment.checkpoint import flatten
        from retain.experiment.config import config_to_dict

        uri = config.logging.mlflow_uri or f"sqlite:///{(run_dir.resolve().parent / 'mlflow.db')}"
        self.client = _mlflow_client(_mlflow_client_class(), uri)
        name = config.logging.mlflow_experiment or config.preset or config.data.name
        experiment = self.client.get_experiment_by_name(name)
        experiment_id = experiment.experiment_id if experiment is not None else self.client.create_experiment(name)
        id_file = run_dir / MLFLOW_RUN_FILE
        if id_file.exists():
            self.run_id = id_file.read_text().strip()
        else:
            self.run_id = self.client.create_run(experiment_id, run_name=run_dir.name).info.run_id
            id_file.write_text(self.run_id + "\n")
            for key, value in flatten(config_to_dict(config)).items():
                self.client.log_param(self.run_id, key, str(value)[:500])

    def log(self, values: dict[str, float], step: int) -> None:
        for key, value in values.items():
            self.client.log_metric(self.run_id, key, float(value), step=step)

    def close(self, finished: bool) -> None:
        self.client.set_terminated(self.run_id, status="FINISHED" if finished else "KILLED")
