"""What a run shows: plain lines without a terminal, bars with ETA on one, everything through
`logging` so -q/-v (and a program embedding retain) decide, third-party loggers included."""

import io
import logging
import os
import subprocess
import sys
import textwrap

import pytest
from rich.console import Console

from retain.runs.config import build_config
from retain.console import LOGGER, Reporter
from retain.runs.loop import run

SMALL = ["train.epochs=2", "scenario.num_tasks=3", "method.name=finetune", "logging.report=false",
         "logging.tensorboard=false"]


def _cli(tmp_path, *args, env=None):
    sets = [item for override in SMALL for item in ("--set", override)]
    proc = subprocess.run([sys.executable, "-m", "retain", "run", *sets, "--out", str(tmp_path / "run"), *args],
                          capture_output=True, text=True, cwd=tmp_path, env={**os.environ, **(env or {})}, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stderr.splitlines()


def test_without_a_terminal_one_line_per_task_and_the_run_directory_first(tmp_path):
    lines = _cli(tmp_path)
    assert lines[0] == f"run directory: {tmp_path / 'run'}"
    tasks = [line for line in lines if line.startswith("task ")]
    assert [line.split(":")[0] for line in tasks] == ["task 1/3", "task 2/3", "task 3/3"]
    assert all("eta" in line for line in tasks)
    assert not [line for line in lines if "epoch" in line]  # a fast run: no epoch lines
    assert all(len(line) < 200 for line in lines)


def test_verbose_adds_one_line_per_epoch_before_its_task_line(tmp_path):
    lines = _cli(tmp_path, "-v")
    shown = [line.strip().split(" train")[0] for line in lines if line.strip().startswith(("epoch", "task"))]
    assert [s.split(":")[0] for s in shown] == ["epoch 1/2", "epoch 2/2", "task 1/3", "epoch 1/2", "epoch 2/2", "task 2/3",
                                               "epoch 1/2", "epoch 2/2", "task 3/3"]


FAKE_MLFLOW = textwrap.dedent('''
    import logging, sys, types
    logger = logging.getLogger("mlflow")

    # What MLflow does on import: its own handler, INFO, no propagation.
    logger.handlers[:] = [logging.StreamHandler(sys.stderr)]
    logger.setLevel(logging.INFO)
    logger.propagate = False

    class MlflowClient:
        def __init__(self, tracking_uri):
            logger.info("mlflow-info-line: store opened")
        def get_experiment_by_name(self, name):
            return None
        def create_experiment(self, name):
            logger.info("mlflow-info-line: experiment created")
            return "1"
        def create_run(self, experiment_id, run_name):
            logger.info("mlflow-info-line: run created")
            return types.SimpleNamespace(info=types.SimpleNamespace(run_id="r1"))
        def log_param(self, *args):
            pass
        def log_metric(self, *args, **kwargs):
            logger.info("mlflow-info-line: metric")
        def log_artifact(self, *args):
            pass
        def set_terminated(self, run_id, status):
            logger.warning("mlflow-warning-line")

    tracking = types.ModuleType("mlflow.tracking")
    tracking.MlflowClient = MlflowClient
    sys.modules["mlflow.tracking"] = tracking
''')


@pytest.mark.parametrize("flag, info_shown, warning_shown", [("-q", False, True), (None, False, True), ("-v", True, True)])
def test_third_party_loggers_follow_quiet_and_verbose(tmp_path, flag, info_shown, warning_shown):
    (tmp_path / "fake" / "mlflow").mkdir(parents=True)
    (tmp_path / "fake" / "mlflow" / "__init__.py").write_text(FAKE_MLFLOW)
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path / "fake"), os.environ.get("PYTHONPATH", "")])}
    text = "\n".join(_cli(tmp_path, "--set", "logging.mlflow=true", *([flag] if flag else []), env=env))
    assert ("mlflow-info-line" in text) == info_shown
    assert ("mlflow-warning-line" in text) == warning_shown
    assert ("run directory" in text) == (flag != "-q")


def test_an_embedding_program_gets_every_line_through_logging(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="retain")
    run(build_config(preset="demo", overrides=SMALL), out=tmp_path / "run", reporter=Reporter(quiet=False))
    messages = [r.getMessage() for r in caplog.records if r.name == "retain"]
    assert messages[0] == f"run directory: {tmp_path / 'run'}"
    assert sum(m.startswith("task ") for m in messages) == 3


class _Counting(Reporter):
    def __init__(self, console):
        super().__init__(console=console)
        self.counted, self.announced = 0, 0

    def start_epoch(self, phase, epoch, epochs, steps):
        self.announced += steps
        super().start_epoch(phase, epoch, epochs, steps)

    def step(self):
        self.counted += 1
        super().step()


def test_on_a_terminal_three_bars_with_eta_and_steps_counted_on_the_host(tmp_path):
    previous = LOGGER.level
    LOGGER.setLevel(logging.INFO)
    try:
        buffer = io.StringIO()
        reporter = _Counting(Console(file=buffer, force_terminal=True, width=160))
        assert reporter.interactive
        results = run(build_config(preset="demo", overrides=SMALL), out=tmp_path / "run", reporter=reporter)
    finally:
        LOGGER.setLevel(previous)
    text = buffer.getvalue()
    for label in ("run", "task 3/3", "epoch 2/2", "eta", "3/3", "2/2"):
        assert label in text
    # Every step was counted, and the epoch's step count was known in advance (no BatchNorm: no batch skipped).
    batch = 32
    expected = sum(2 * -(-t["train_images"] // 2 // batch) for t in results["timings"]["tasks"])
    assert reporter.counted == reporter.announced == expected


def test_a_refused_run_names_no_run_directory(tmp_path):
    """The run-directory line comes once the config, data and budget are accepted: a run refused
    before anything is written does not announce a directory that will not exist."""
    out = tmp_path / "refused"
    result = subprocess.run([sys.executable, "-m", "retain", "run", "--set", "memory.budget=10", "--out", str(out)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "memory.budget" in result.stderr + result.stdout
    assert "run directory" not in result.stderr + result.stdout
    assert not out.exists()
