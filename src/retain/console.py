"""What a run shows while it works: Python `logging` for every line, rich progress bars on a terminal.

Every message goes through the `retain` logger, so `-q`/`-v` (`setup_logging`) and a program
embedding retain (its own handlers and levels) decide what is shown; `setup_logging` also sets
the level of the third-party loggers a run wakes up (MLflow, alembic, wandb, Ray), so `-q`
silences their INFO lines too. On a terminal, three bars with elapsed time and ETA follow the
run (tasks), the task (epochs) and the epoch (steps; counted on the host, so the step loop
never waits for the device). Without one (`retain run 2>&1 | tee log`), the run directory
comes first, then one line per task; an epoch gets a line only with `-v` or when
`EPOCH_LINE_SECONDS` passed since the last line (a slow run still shows it is alive).
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

LOGGER = logging.getLogger("retain")
# Loggers of libraries a run may import (tracking back-ends, Ray, downloads): WARNING unless -v.
THIRD_PARTY_LOGGERS = ("mlflow", "alembic", "wandb", "ray", "urllib3", "filelock", "fsspec", "datasets",
                       "huggingface_hub", "matplotlib", "PIL")
EPOCH_LINE_SECONDS = 30.0
_LEVELS = {-1: (logging.WARNING, logging.WARNING), 0: (logging.INFO, logging.WARNING), 1: (logging.DEBUG, logging.INFO)}
_state: dict[str, Any] = {"verbosity": None, "console": None}


def stderr_console() -> Console:
    """The console that log lines and progress bars share (so lines print above the bars)."""
    if _state["console"] is None:
        _state["console"] = Console(stderr=True)
    return _state["console"]


class _Prefixed(logging.Formatter):
    """`note: ...` for retain's warnings, `<library>: ...` for another library's lines, one line per Python warning."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if record.name == "py.warnings":  # "file:line: Category: message", without the source line under it
            return f"warning: {text.strip().splitlines()[0]}"
        if not record.name.startswith("retain"):
            return f"{record.name}: {text}"
        return text


class _StderrHandler(logging.StreamHandler):
    """Plain lines to whatever sys.stderr is when a line is written (a test runner may swap it)."""

    @property
    def stream(self):  # noqa: ANN201 - logging's own attribute
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # noqa: ANN001 - set by StreamHandler.__init__; sys.stderr wins
        pass


def setup_logging(verbosity: int = 0) -> None:
    """Show retain's lines on stderr: verbosity -1 (`-q`: warnings only), 0 (progress), 1 (`-v`:
    every epoch, the augmentation, Python warnings and other libraries' INFO lines). A rich handler on a terminal, plain lines
    otherwise (never wrapped). Called by the CLI; a program embedding retain configures
    `logging` itself instead."""
    root = logging.getLogger()
    if not any(getattr(h, "_retain", False) for h in root.handlers):
        console = stderr_console()
        if console.is_terminal:
            from rich.logging import RichHandler

            handler: logging.Handler = RichHandler(console=console, show_time=False, show_level=False, show_path=False,
                                                   markup=False, highlighter=None, rich_tracebacks=False)
        else:
            handler = _StderrHandler()
        handler.setFormatter(_Prefixed("%(message)s"))
        handler._retain = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    _state["verbosity"] = max(-1, min(1, verbosity))
    apply_levels()
    logging.captureWarnings(True)


class _OnlyRetainWarnings(logging.Filter):
    """Lets through the captured warnings that are retain's own deprecations, as their message
    alone (not the file and line of the code that warned)."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        marker = "RetainDeprecationWarning: "
        if marker not in text:
            return False
        record.msg, record.args = text.split(marker, 1)[1].strip().splitlines()[0], ()
        return True


def apply_levels() -> None:
    """Set retain's and the third-party loggers' levels for the verbosity `setup_logging` chose
    (again after a library that configures its own loggers on import, as MLflow does, is
    loaded). Does nothing when retain is embedded (setup_logging never called)."""
    if _state["verbosity"] is None:
        return
    ours, theirs = _LEVELS[_state["verbosity"]]
    logging.getLogger().setLevel(min(ours, theirs))
    LOGGER.setLevel(ours)
    # Python warnings (deprecations of libraries, mostly) are for the curious: -v shows them;
    # retain's own (an old spelling of a setting or method name) are the user's to fix: always shown.
    warnings_logger = logging.getLogger("py.warnings")
    warnings_logger.setLevel(logging.WARNING)
    for old in [f for f in warnings_logger.filters if isinstance(f, _OnlyRetainWarnings)]:
        warnings_logger.removeFilter(old)
    if _state["verbosity"] != 1:
        warnings_logger.addFilter(_OnlyRetainWarnings())
    for name in THIRD_PARTY_LOGGERS:
        logging.getLogger(name).setLevel(theirs)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class Reporter:
    """Shows a run's progress: bars on a terminal, log lines otherwise; `quiet` shows nothing
    but warnings (and no final table). Everything is written through the `retain` logger."""

    def __init__(self, quiet: bool = False, console: Console | None = None) -> None:
        self.console = console or stderr_console()
        self.out = Console()
        self.quiet = quiet
        self._noted: set[str] = set()
        self._progress: Progress | None = None
        self._run_bar = self._task_bar = self._epoch_bar = None
        self._steps = 0
        self._shown_at = 0.0
        self._last_line = time.monotonic()
        self._run_started = time.monotonic()
        self._task_started = time.monotonic()
        self._tasks_done = self._first_task = self._num_tasks = 0
        self._epochs_done = 0

    @property
    def interactive(self) -> bool:
        """Bars are shown: a terminal, not quiet, and retain's INFO lines enabled."""
        return self.console.is_terminal and not self.quiet and LOGGER.isEnabledFor(logging.INFO)

    def __enter__(self) -> "Reporter":
        if self.interactive:
            self._progress = Progress(
                TextColumn("{task.description:<12}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
                TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), console=self.console,
            )
            self._progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)
            self._progress = None
            self._run_bar = self._task_bar = self._epoch_bar = None

    def log(self, message: str) -> None:
        """A progress line (INFO); nothing when quiet."""
        if not self.quiet:
            LOGGER.info(message)

    def note(self, message: str) -> None:
        """A setting that has no effect (said once per run; a sweep says it once for all its cells); nothing when quiet."""
        if not self.quiet and message not in self._noted:
            self._noted.add(message)
            LOGGER.info(f"note: {message}")

    def warn(self, message: str) -> None:
        """A note the user must see (a setting ignored, a checkpoint refused), shown even when quiet."""
        LOGGER.warning(f"note: {message}")

    def start_run(self, num_tasks: int, done: int = 0) -> None:
        self._run_started = time.monotonic()
        self._tasks_done, self._num_tasks, self._first_task = done, num_tasks, done
        if self._progress is not None:
            self._run_bar = self._progress.add_task("run", total=num_tasks, completed=done, info="tasks")

    def start_task(self, index: int, num_tasks: int, epochs: int) -> None:
        self._task_started = time.monotonic()
        self._epochs_done = 0
        if self._progress is not None:
            for bar in (self._task_bar, self._epoch_bar):
                if bar is not None:
                    self._progress.remove_task(bar)
            self._task_bar = self._progress.add_task(f"task {index + 1}/{num_tasks}", total=max(epochs, 1), info="epochs")
            self._epoch_bar = None

    def start_epoch(self, phase: str, epoch: int, epochs: int, steps: int | None) -> None:
        """An epoch begins; `steps` is its number of steps when known."""
        self._steps = 0
        if self._progress is not None:
            label = f"epoch {epoch}/{epochs}" + ("" if phase == "train" else f" ({phase})")
            if self._epoch_bar is None:
                self._epoch_bar = self._progress.add_task(label, total=steps, info="steps")
            else:
                self._progress.reset(self._epoch_bar, total=steps, description=label, info="steps")

    def step(self) -> None:
        """One training step done: counted here, shown at most ten times a second."""
        self._steps += 1
        if self._epoch_bar is not None:
            now = time.monotonic()
            if now - self._shown_at >= 0.1:
                self._shown_at = now
                self._progress.update(self._epoch_bar, completed=self._steps)

    def epoch(self, phase: str, epoch: int, epochs: int, loss: float, lr: float) -> None:
        self._epochs_done += 1
        info = f"{phase} loss {loss:.4f} lr {lr:.4g}"
        if self._progress is not None:
            if self._epoch_bar is not None:
                self._progress.update(self._epoch_bar, completed=self._steps, total=self._steps)
            if self._task_bar is not None:
                self._progress.update(self._task_bar, completed=self._epochs_done, info=info)
                bar = next(t for t in self._progress.tasks if t.id == self._task_bar)
                if bar.total is not None and self._epochs_done > bar.total:
                    self._progress.update(self._task_bar, total=self._epochs_done)
            LOGGER.debug(f"  epoch {epoch}/{epochs} {info}")
            return
        now = time.monotonic()
        if LOGGER.isEnabledFor(logging.DEBUG) or (not self.quiet and now - self._last_line >= EPOCH_LINE_SECONDS):
            self._last_line = now
            LOGGER.log(logging.DEBUG if LOGGER.isEnabledFor(logging.DEBUG) else logging.INFO,
                       f"  epoch {epoch}/{epochs} {info} ({_duration(now - self._task_started)} into the task)")

    def end_task(self, index: int, num_tasks: int, accuracy: float) -> None:
        self._tasks_done = index + 1
        now = time.monotonic()
        done_here = self._tasks_done - self._first_task
        left = num_tasks - self._tasks_done
        eta = (now - self._run_started) / done_here * left if done_here else None
        if self._progress is not None:
            if self._run_bar is not None:
                self._progress.update(self._run_bar, completed=self._tasks_done, info=f"last acc {accuracy:.2f}%")
            return
        self._last_line = now
        self.log(f"task {index + 1}/{num_tasks}: accuracy on seen classes {accuracy:.2f}% "
                 f"({_duration(now - self._task_started)}; run {_duration(now - self._run_started)}, "
                 f"eta {_duration(eta) if left else '0:00'})")

    def final_table(self, results: dict[str, Any]) -> None:
        """The accuracy table printed at the end of a run."""
        stage = results["stage_accuracy"]
        table = Table(title=f"{results['method']} on {results['dataset']} (seed {results['seed']})")
        table.add_column("task", justify="right")
        table.add_column("classes", justify="right")
        table.add_column(f"acc ({results.get('primary_score_label', results['primary_score'])}) %", justify="right")
        table.add_column("top-5 %", justify="right")
        extra = [name for name in results["accuracy"] if name != results["primary_score"]]
        for name in extra:
            table.add_column(f"{name} %", justify="right")
        if results.get("ledger"):
            table.add_column("memory bytes", justify="right")
        for t, acc in enumerate(stage):
            row = [str(t + 1), str(results["seen_classes"][t]), f"{acc:.2f}", f"{results['stage_accuracy_top5'][t]:.2f}"]
            row += [f"{results['accuracy'][name]['stage'][t]:.2f}" for name in extra]
            if results.get("ledger"):
                entry = results["ledger"][t]
                row.append(f"{entry['total_bytes']:,} / {entry['budget_bytes']:,}")
            table.add_row(*row)
        self.out.print(table)
        metrics = results["metrics"]
        self.out.print(
            f"average incremental accuracy {metrics['average_incremental_accuracy']:.2f}%  "
            f"last {metrics['last_accuracy']:.2f}%  forgetting {metrics['forgetting']:.2f}  "
            f"({results['timings']['total_seconds']:.1f} s, {results['timings']['train_images_per_second']:.0f} train img/s)",
            soft_wrap=True,
        )
        self.out.print(f"results: {results['run_dir']}", soft_wrap=True)
        if results.get("report"):
            drawn = (Path(results["report"]).parent / "plots").is_dir()
            hint = "" if drawn else f" (figures: retain report {results['run_dir']})"
            self.out.print(f"report: {results['report']}{hint}", soft_wrap=True)
