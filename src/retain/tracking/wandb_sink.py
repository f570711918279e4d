"""Weights & Biases: `logging.wandb: {project: ..., mode: offline|online}`."""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

from retain.config import RetainConfig, config_to_dict
from retain.console import LOGGER
from retain.errors import ConfigError
from retain.tracking.sink import Sink

WANDB_RUN_FILE = "wandb_run_id.txt"
WANDB_INSTALL_HINT = "install it with `pip install 'retain[wandb]'` (or `pip install wandb`), or remove logging.wandb"


def _wandb():
    try:
        import wandb
    except ImportError:
        raise ConfigError(f"logging.wandb is set but wandb is not installed; {WANDB_INSTALL_HINT}.") from None
    return wandb


class WandbSink(Sink):
    """One wandb run per retain run (its files under `<run dir>/wandb`; offline by default, so
    nothing leaves the machine until `wandb sync`): the config, `train/*` against
    `train/epoch`, accuracies and memory against `task`, the summary metrics in the run's
    summary, and the run's files as one artifact. A resumed run continues the same wandb run."""

    def __init__(self, run_dir: Path, config: RetainConfig, resume_epoch: int = 0, resume_task: int = 0) -> None:
        super().__init__(run_dir, config)
        wandb = _wandb()
        settings = config.logging.wandb
        id_file = self.run_dir / WANDB_RUN_FILE
        run_id = id_file.read_text().strip() if id_file.exists() else secrets.token_hex(4)  # wandb's own helper moved in 0.2x
        quiet = {} if LOGGER.isEnabledFor(logging.INFO) or not hasattr(wandb, "Settings") else {"settings": wandb.Settings(silent=True)}
        self.run = wandb.init(project=settings.project, entity=settings.entity, mode=settings.mode, dir=str(self.run_dir),
                              name=self.run_dir.name, id=run_id, resume="allow", config=config_to_dict(config),
                              reinit=True, **quiet)  # -q: wandb's own console lines too
        id_file.write_text(run_id + "\n")
        # Two x axes: epochs trained in the run, and tasks learned.
        self.run.define_metric("train/epoch")
        self.run.define_metric("train/*", step_metric="train/epoch")
        self.run.define_metric("task")
        for prefix in ("accuracy_*", "memory/*", "summary/*"):
            self.run.define_metric(prefix, step_metric="task")

    @classmethod
    def enabled(cls, config: RetainConfig) -> bool:
        return config.logging.wandb is not None

    @classmethod
    def check(cls, config: RetainConfig) -> None:
        _wandb()

    def epoch(self, step: int, values: dict[str, float]) -> None:
        self.run.log({**values, "train/epoch": step})

    def task(self, step: int, values: dict[str, float]) -> None:
        self.run.log({**values, "task": step})

    def summary(self, step: int, metrics: dict[str, float]) -> None:
        for key, value in metrics.items():
            self.run.summary[key] = value

    def artifacts(self, files: list[Path]) -> None:
        wandb = _wandb()
        artifact = wandb.Artifact(f"run-{self.run.id}", type="retain-run")
        for path in files:
            artifact.add_file(str(path), name=f"plots/{path.name}" if path.parent.name == "plots" else path.name)
        self.run.log_artifact(artifact)

    def close(self, finished: bool) -> None:
        self.run.finish(exit_code=0 if finished else 1)
