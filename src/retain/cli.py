"""The `retain` command."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from retain.errors import ConfigError, RetainError

app = typer.Typer(add_completion=False, no_args_is_help=False, help="Memory-budgeted class-incremental learning.")
_err = Console(stderr=True)


def _fail(exc: Exception) -> None:
    _err.print(f"[bold red]error:[/bold red] {exc}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=2)


@app.command()
def run(
    config: Optional[Path] = typer.Argument(None, help="YAML config file (optional)."),
    preset: Optional[str] = typer.Option(None, "--preset", "-p", help="Named protocol preset (see `retain list`)."),
    set_: list[str] = typer.Option([], "--set", "-s", help="Override a setting: dotted.key=value (repeatable)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed (overrides the config)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Run directory (default runs/<name>-<method>-seed<N>-<time>)."),
    device: Optional[str] = typer.Option(None, "--device", help="cpu, cuda or cuda:N."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the task plan and exit without training."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
    resume: Optional[Path] = typer.Option(None, "--resume", help="Continue the run in this directory from its last checkpoint."),
) -> None:
    """Run one experiment (the built-in `demo` preset when nothing is given), or resume one."""
    from retain.experiment.config import build_config
    from retain.experiment.console import Reporter
    from retain.experiment.run import resume_run
    from retain.experiment.run import run as run_experiment

    try:
        overrides = list(set_)
        if device:
            overrides.append(f"device={device}")
        if resume is not None:
            if out is not None or dry_run:
                raise ConfigError("--resume continues the run in its own directory; leave out --out and --dry-run.")
            given = config is not None or preset is not None or overrides or seed is not None
            cfg = build_config(config, preset, overrides, seed) if given else None
            resume_run(resume, cfg, reporter=Reporter(quiet=quiet))
            return
        if config is None and preset is None:
            preset = "demo"
        cfg = build_config(config, preset, overrides, seed)
        run_experiment(cfg, out=out, dry_run=dry_run, reporter=Reporter(quiet=quiet))
    except RetainError as exc:
        _fail(exc)
    except KeyboardInterrupt:
        raise typer.Exit(code=130) from None


@app.command()
def sweep(
    grid: Path = typer.Argument(..., help="Grid file (YAML): base config, axes, executor, resources; or the name of a shipped grid (`retain list`)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Sweep directory (default: the grid's `out`, else sweeps/<grid name>)."),
    executor: Optional[str] = typer.Option(None, "--executor", "-e", help="local or ray (default: the grid's `executor`)."),
    workers: Optional[int] = typer.Option(None, "--workers", "-w", min=1, help="local executor: parallel worker processes."),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help="Ray cluster: auto or HOST:PORT (default: start a local Ray)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
) -> None:
    """Run every cell of a grid; complete cells are skipped and interrupted ones resumed."""
    from retain.experiment.sweep import run_sweep

    try:
        summary = run_sweep(grid, out=out, executor=executor, workers=workers, ray_address=ray_address,
                            log=(lambda message: None) if quiet else _err.print)
    except RetainError as exc:
        _fail(exc)
    except KeyboardInterrupt:
        _err.print(f"interrupted; run `retain sweep {grid}` again to continue.")
        raise typer.Exit(code=130) from None
    if not quiet:
        Console().print(f"{len(summary.finished)} finished, {len(summary.skipped)} already complete, "
                        f"{len(summary.failed)} failed; report: {summary.report or '(not written: cells failed)'}")
    if summary.failed:
        raise typer.Exit(code=1)


@app.command()
def report(
    path: Path = typer.Argument(..., help="A run directory or a sweep directory."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Where to write report.md, runs.csv and plots/ (default: PATH)."),
) -> None:
    """Write a Markdown report with plots and a CSV of every run's metrics."""
    from retain.experiment.report import write_report

    try:
        Console().print(f"report: {write_report(path, out)}")
    except RetainError as exc:
        _fail(exc)


@app.command("list")
def list_things() -> None:
    """Show the datasets, methods and presets retain knows."""
    from retain.data import DATASET_NAMES
    from retain.experiment.presets import preset_description, preset_names
    from retain.methods import get_method_class, method_names

    out = Console()
    table = Table(title="presets")
    table.add_column("name")
    table.add_column("description")
    for name in preset_names():
        table.add_row(name, preset_description(name))
    out.print(table)
    methods = Table(title="methods")
    methods.add_column("name")
    methods.add_column("description")
    for name in method_names():
        doc = (get_method_class(name).__doc__ or "").strip().splitlines()[0]
        methods.add_row(name, doc)
    out.print(methods)
    out.print("datasets: " + ", ".join(DATASET_NAMES))
    from retain.experiment.sweep import grid_names

    out.print("grids (retain sweep NAME): " + ", ".join(grid_names()))


@app.command()
def matrix(
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write the Markdown table here (default: print it)."),
) -> None:
    """Every method × scenario kind × codec: where it learns, where it refuses and why."""
    from retain.methods.matrix import markdown_table

    text = markdown_table()
    if out is None:
        Console().print(text, markup=False, highlight=False)
    else:
        out.write_text(text)
        Console().print(f"matrix: {out}")


@app.command()
def budget(
    config: Optional[Path] = typer.Argument(None, help="YAML config file (optional)."),
    preset: Optional[str] = typer.Option(None, "--preset", "-p", help="Named protocol preset (see `retain list`)."),
    set_: list[str] = typer.Option([], "--set", "-s", help="Override a setting: dotted.key=value (repeatable)."),
) -> None:
    """Exemplar counts per kind of method under the fair protocol and at each AUC budget point."""
    from retain.experiment.budgeting import budget_table
    from retain.experiment.config import build_config

    try:
        cfg = build_config(config, preset or (None if config else "demo"), list(set_))
        Console().print(budget_table(cfg), markup=False, highlight=False, soft_wrap=True)
    except RetainError as exc:
        _fail(exc)


@app.command()
def memorization(
    out: Path = typer.Option(..., "--out", "-o", help="Scores file (.npy; settings go to the .json beside it)."),
    data: str = typer.Option("fashion-mnist", "--data", help="Dataset name."),
    models: int = typer.Option(8, "--models", help="Networks trained on random halves (reference: 250)."),
    epochs: int = typer.Option(5, "--epochs", help="Epochs per network."),
    seed: int = typer.Option(0, "--seed", help="Seed of the splits and initialisations."),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda or cuda:N."),
) -> None:
    """Memorization scores by subsampling (Feldman-Zhang), for analysis and method.scores_file."""
    from retain.experiment.memorization import MemorizationSettings, memorization_scores, save_scores

    try:
        settings = MemorizationSettings(dataset=data, n_models=models, epochs=epochs, seed=seed, device=device)
        scores_path, settings_path = save_scores(memorization_scores(settings), settings, out)
        Console().print(f"scores: {scores_path}  settings: {settings_path}")
    except RetainError as exc:
        _fail(exc)


def main() -> None:
    """Entry point of the console script."""
    try:
        app()
    except RetainError as exc:  # errors raised outside a command body
        _err.print(f"[bold red]error:[/bold red] {exc}", highlight=False)
        sys.exit(2)


if __name__ == "__main__":
    main()
