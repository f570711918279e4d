"""The `retain` command."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from retain.errors import RetainError

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
) -> None:
    """Run one experiment (the built-in `demo` preset when nothing is given)."""
    from retain.experiment.config import build_config
    from retain.experiment.console import Reporter
    from retain.experiment.run import run as run_experiment

    try:
        overrides = list(set_)
        if device:
            overrides.append(f"device={device}")
        if config is None and preset is None:
            preset = "demo"
        cfg = build_config(config, preset, overrides, seed)
        run_experiment(cfg, out=out, dry_run=dry_run, reporter=Reporter(quiet=quiet))
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


def main() -> None:
    """Entry point of the console script."""
    try:
        app()
    except RetainError as exc:  # errors raised outside a command body
        _err.print(f"[bold red]error:[/bold red] {exc}", highlight=False)
        sys.exit(2)


if __name__ == "__main__":
    main()
