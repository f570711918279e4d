"""Progress display: rich progress bars on a terminal, plain log lines otherwise."""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table


class Reporter:
    """Shows run progress; bars when stderr is a terminal, one line per epoch and task otherwise."""

    def __init__(self, quiet: bool = False) -> None:
        self.console = Console(stderr=True)
        self.out = Console()
        self.quiet = quiet
        self.interactive = sys.stderr.isatty() and not quiet
        self._progress: Progress | None = None
        self._task_bar = self._epoch_bar = None

    def __enter__(self) -> "Reporter":
        if self.interactive:
            self._progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[info]}"), TimeElapsedColumn(), console=self.console,
            )
            self._progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)
            self._progress = None

    def log(self, message: str) -> None:
        if self.quiet:
            return
        if self._progress is not None:
            self._progress.console.log(message)
        else:
            print(message, file=sys.stderr, flush=True)

    def warn(self, message: str) -> None:
        """A note the user must see (a setting ignored, a checkpoint refused), shown even when quiet."""
        print(f"note: {message}", file=sys.stderr, flush=True)

    def start_run(self, num_tasks: int) -> None:
        if self._progress is not None:
            self._task_bar = self._progress.add_task("tasks", total=num_tasks, info="")

    def start_task(self, index: int, num_tasks: int, epochs: int) -> None:
        if self._progress is not None:
            if self._epoch_bar is not None:
                self._progress.remove_task(self._epoch_bar)
            self._epoch_bar = self._progress.add_task(f"task {index + 1}/{num_tasks}", total=max(epochs, 1), info="")

    def start_epoch(self, phase: str, epoch: int, epochs: int, steps: int | None) -> None:
        """An epoch begins; `steps` is its number of steps when known."""

    def step(self) -> None:
        """One training step done (counted on the host)."""

    def epoch(self, phase: str, epoch: int, epochs: int, loss: float, lr: float) -> None:
        info = f"{phase} loss {loss:.4f} lr {lr:.4g}"
        if self._progress is not None and self._epoch_bar is not None:
            self._progress.update(self._epoch_bar, completed=epoch, total=epochs, info=info)
        elif not self.quiet:
            print(f"  epoch {epoch}/{epochs} {info}", file=sys.stderr, flush=True)

    def end_task(self, index: int, num_tasks: int, accuracy: float) -> None:
        if self._progress is not None and self._task_bar is not None:
            self._progress.update(self._task_bar, advance=1, info=f"last acc {accuracy:.2f}%")
        else:
            self.log(f"task {index + 1}/{num_tasks}: accuracy on seen classes {accuracy:.2f}%")

    def final_table(self, results: dict[str, Any]) -> None:
        """The accuracy table printed at the end of a run."""
        stage = results["stage_accuracy"]
        table = Table(title=f"{results['method']} on {results['dataset']} (seed {results['seed']})")
        table.add_column("task", justify="right")
        table.add_column("classes", justify="right")
        table.add_column(f"acc ({results['primary_score']}) %", justify="right")
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
            f"({results['timings']['total_seconds']:.1f} s, {results['timings']['train_images_per_second']:.0f} train img/s)"
        )
        self.out.print(f"results: {results['run_dir']}")
