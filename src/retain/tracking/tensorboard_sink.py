"""TensorBoard: event files in the run directory (`tensorboard --logdir runs/`)."""

from __future__ import annotations

from pathlib import Path

from retain.config import RetainConfig, config_to_dict
from retain.tracking.sink import Sink, hparams

TENSORBOARD_DIR = "tensorboard"


class TensorBoardSink(Sink):
    """Three event folders: `tensorboard/epochs` (x = epochs trained so far in the run),
    `tensorboard/tasks` (x = tasks learned; the summary metrics under `summary/` at the last
    task) and `tensorboard/hparams` (the HPARAMS view: the flattened config with the summary
    metrics). A resumed run purges what the killed run logged after its checkpoint, so curves
    have no duplicated steps."""

    def __init__(self, run_dir: Path, config: RetainConfig, resume_epoch: int = 0, resume_task: int = 0) -> None:
        super().__init__(run_dir, config)
        self._epochs = self._tasks = None
        # Whether an earlier, killed attempt logged here, decided now (before anything is written).
        self._resume = (resume_epoch, resume_task) if (self.run_dir / TENSORBOARD_DIR).exists() else None

    @classmethod
    def enabled(cls, config: RetainConfig) -> bool:
        return config.logging.tensorboard

    def _open(self) -> None:
        """Open the event writers at the first value logged: importing TensorBoard costs start-up
        time that the first training step need not wait for."""
        if self._epochs is None:
            from torch.utils.tensorboard import SummaryWriter

            root = self.run_dir / TENSORBOARD_DIR
            # Events the killed attempt logged after its checkpoint are purged (steps >= purge_step).
            epoch, task = self._resume if self._resume is not None else (None, None)
            self._epochs = SummaryWriter(str(root / "epochs"), purge_step=None if epoch is None else epoch + 1)
            self._tasks = SummaryWriter(str(root / "tasks"), purge_step=None if task is None else task + 1)

    def epoch(self, step: int, values: dict[str, float]) -> None:
        self._open()
        for key, value in values.items():
            self._epochs.add_scalar(key, value, step)

    def task(self, step: int, values: dict[str, float]) -> None:
        self._open()
        for key, value in values.items():
            self._tasks.add_scalar(key, value, step)
        self._tasks.flush()
        self._epochs.flush()

    def summary(self, step: int, metrics: dict[str, float]) -> None:
        self._open()
        for key, value in metrics.items():
            self._tasks.add_scalar(f"summary/{key}", value, step)
        self._tasks.flush()
        from torch.utils.tensorboard import SummaryWriter

        # The HPARAMS dashboard: one session per run, its config against its summary metrics.
        with SummaryWriter(str(self.run_dir / TENSORBOARD_DIR / "hparams")) as writer:
            writer.add_hparams(hparams(config_to_dict(self.config)), {f"hparam/{k}": v for k, v in metrics.items()},
                               run_name=".")

    def close(self, finished: bool) -> None:
        for writer in (self._epochs, self._tasks):
            if writer is not None:
                writer.close()
