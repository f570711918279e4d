"""MLflow: one MLflow run per retain run, through `mlflow.tracking.MlflowClient`."""

from __future__ import annotations

from pathlib import Path

from retain.config import RetainConfig, config_to_dict
from retain.console import apply_levels
from retain.errors import ConfigError
from retain.tracking.sink import Sink, hparams

MLFLOW_RUN_FILE = "mlflow_run_id.txt"
MLFLOW_INSTALL_HINT = "install it with `pip install 'retain[mlflow]'` (or `pip install mlflow`), or set logging.mlflow=false"


def _mlflow_client_class():
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise ConfigError(f"logging.mlflow = true but MLflow is not installed; {MLFLOW_INSTALL_HINT}.") from None
    apply_levels()  # MLflow sets up its own INFO logger on import: -q/-v decide again
    return MlflowClient


def _mlflow_client(client_class, uri: str):
    try:
        return client_class(tracking_uri=uri)
    except Exception as exc:  # MLflow refuses an unknown scheme or an unreachable store with its own types
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:800]  # MLflow's reason ends with its fix
        raise ConfigError(
            f"logging.mlflow_uri = {uri!r} cannot be used by MLflow ({first}); give a file:, sqlite:, http(s): "
            "or database URI, or leave it unset for a local SQLite store."
        ) from None


class MlflowSink(Sink):
    """One MLflow run per retain run, in a local SQLite store unless logging.mlflow_uri says
    otherwise: the config as parameters, metrics per epoch and per task (`/` becomes `_`), the
    summary metrics, and the run's files as artifacts (plots under `plots/`).

    The MLflow run id is kept in the run directory so that a resumed run logs into the same run.
    """

    def __init__(self, run_dir: Path, config: RetainConfig, resume_epoch: int = 0, resume_task: int = 0) -> None:
        super().__init__(run_dir, config)
        uri = config.logging.mlflow_uri or f"sqlite:///{(self.run_dir.resolve().parent / 'mlflow.db')}"
        self.client = _mlflow_client(_mlflow_client_class(), uri)
        name = config.logging.mlflow_experiment or config.preset or config.data.name
        experiment = self.client.get_experiment_by_name(name)
        experiment_id = experiment.experiment_id if experiment is not None else self.client.create_experiment(name)
        id_file = self.run_dir / MLFLOW_RUN_FILE
        if id_file.exists():
            self.run_id = id_file.read_text().strip()
        else:
            self.run_id = self.client.create_run(experiment_id, run_name=self.run_dir.name).info.run_id
            id_file.write_text(self.run_id + "\n")
            for key, value in hparams(config_to_dict(config)).items():
                self.client.log_param(self.run_id, key, str(value)[:500])

    @classmethod
    def enabled(cls, config: RetainConfig) -> bool:
        return config.logging.mlflow

    @classmethod
    def check(cls, config: RetainConfig) -> None:
        client_class = _mlflow_client_class()
        if config.logging.mlflow_uri:  # the default local SQLite store always works; a given URI is tried now
            _mlflow_client(client_class, config.logging.mlflow_uri)

    def _log(self, values: dict[str, float], step: int) -> None:
        for key, value in values.items():
            self.client.log_metric(self.run_id, key.replace("/", "_"), float(value), step=step)

    def epoch(self, step: int, values: dict[str, float]) -> None:
        self._log(values, step)

    def task(self, step: int, values: dict[str, float]) -> None:
        self._log(values, step)

    def summary(self, step: int, metrics: dict[str, float]) -> None:
        self._log(metrics, step)

    def artifacts(self, files: list[Path]) -> None:
        for path in files:
            self.client.log_artifact(self.run_id, str(path), "plots" if path.parent.name == "plots" else None)

    def close(self, finished: bool) -> None:
        self.client.set_terminated(self.run_id, status="FINISHED" if finished else "KILLED")
