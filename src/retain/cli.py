"""The `retain` command."""

from __future__ import annotations

import signal
import sys


def _quiet_exit(signum, frame):  # noqa: ANN001 - a signal handler
    sys.exit(130)


# Ctrl-C while this module's libraries load exits quietly (130), not with a traceback; the
# previous handler is put back at the end of the module, so importing it changes nothing.
try:
    _previous_sigint = signal.signal(signal.SIGINT, _quiet_exit)
except ValueError:  # imported outside the main thread: signals cannot be handled there
    _previous_sigint = None

import contextlib  # noqa: E402
import gc  # noqa: E402
import logging  # noqa: E402
import textwrap  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Optional  # noqa: E402

import typer  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.markup import escape  # noqa: E402
from rich.table import Table  # noqa: E402

from retain.errors import ConfigError, RetainError, storage_error  # noqa: E402

app = typer.Typer(add_completion=False, no_args_is_help=False, rich_markup_mode=None,
                  help="Memory-budgeted class-incremental learning.")
_err = Console(stderr=True)


def _fail(exc: Exception) -> None:
    # The message is user data, not markup: `pip install 'retain[mlflow]'` must print its brackets.
    _err.print(f"[bold red]error:[/bold red] {escape(str(exc))}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=2)


def _setup_logging(quiet: bool, verbose: bool) -> None:
    """Every line of a command goes through `logging`: -q shows warnings only, -v adds detail."""
    from retain.console import setup_logging

    if quiet and verbose:
        raise typer.BadParameter("give --quiet or --verbose, not both")
    setup_logging(-1 if quiet else (1 if verbose else 0))


@contextlib.contextmanager
def _user_errors(what: str) -> Iterator[None]:
    """Turn the errors a user can cause into one printed paragraph and exit code 2 (130 on Ctrl-C)."""
    try:
        yield
    except RetainError as exc:
        _fail(exc)
    except OSError as exc:  # a path that cannot be written or read: read-only, a file, disk full
        _fail(storage_error(exc, what))
    except KeyboardInterrupt:
        raise typer.Exit(code=130) from None


def _out_option(text: str | None, option: str = "--out") -> Path | None:
    """The path given to an --out/--resume option; an empty one is refused (it would mean the current folder)."""
    if text is None:
        return None
    if not text.strip():
        raise ConfigError(f"{option} {text!r} is empty; give the path of a directory (e.g. {option} runs/my-run).")
    return Path(text)


@contextlib.contextmanager
def _torch_imports() -> Iterator[None]:
    """The first import of torch, with the cyclic GC paused, then frozen.

    The import makes ~300,000 objects that live until exit; the GC traversed them dozens of
    times while they were made and again at exit (about 3 of a demo run's 10 seconds). Frozen
    (gc.freeze), they are left out of every later collection. Only in a process that has not
    imported torch yet: a long-lived one (a test session) keeps its GC as it is. torch._dynamo,
    which torch.optim's decorators import, is not imported: retain's optimisers skip those
    decorators (engine/optim.py EagerOptimizer).
    """
    if "torch" in sys.modules:
        yield
        return
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


_IMPORT_HELP = "Plugin module (my_pkg.lwf) or .py file to import first, registering its methods, policies, backbones, datasets (repeatable)."


def _version_text() -> str:
    """retain's version, torch's version and the device a run can use.

    Read from the packages' metadata: a CPU build of torch (`torch.version.cuda` None) can use no
    GPU, so torch is imported (seconds) only to ask a CUDA build which device it sees.
    """
    from importlib import metadata

    from retain.version import __version__

    try:
        torch_version = metadata.version("torch")
    except metadata.PackageNotFoundError:
        return f"retain {__version__}\ntorch not installed (pip install torch)\ndevice none"
    if _torch_cuda_build() is None:
        device = "cpu (torch is a CPU build)"
    else:
        import torch

        if torch.cuda.is_available():
            count = torch.cuda.device_count()
            device = f"cuda ({torch.cuda.get_device_name(0)}{f' and {count - 1} more' if count > 1 else ''}; CUDA {torch.version.cuda})"
        else:
            device = "cpu (no CUDA device)"
    return f"retain {__version__}\ntorch {torch_version}\ndevice {device}"


def _torch_cuda_build() -> str | None:
    """The CUDA version torch was built for (`cuda = ...` in torch/version.py), read without importing torch;
    "unknown" when the file cannot be read."""
    import importlib.util
    import re

    spec = importlib.util.find_spec("torch")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        try:
            text = (Path(folder) / "version.py").read_text()
        except OSError:
            continue
        found = re.search(r"^cuda\b[^=]*=\s*(.+)$", text, re.MULTILINE)
        value = found.group(1).strip() if found else "None"
        return None if value == "None" else value.strip("'\"")
    return "unknown"


def _show_version(value: bool) -> None:
    if value:
        Console().print(_version_text(), markup=False, highlight=False)
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", callback=_show_version, is_eager=True,
                                 help="Print retain's version, torch's version and the device, then exit."),
) -> None:
    """Memory-budgeted class-incremental learning."""
    _setup_logging(False, False)  # every command shows warnings as retain's lines (run and sweep: their -q/-v)


@app.command()
def run(
    config: Optional[Path] = typer.Argument(None, help="YAML config file (optional)."),
    presets: Optional[list[str]] = typer.Option(None, "--preset", "-p", help="Named protocol preset (see `retain list`)."),
    set_: list[str] = typer.Option([], "--set", "-s", metavar="KEY=VALUE", help="Override a setting: dotted.key=value (repeatable)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed (overrides the config)."),
    out: Optional[str] = typer.Option(None, "--out", "-o", help="Run directory (default runs/<name>-<method>-seed<N>-<time>)."),
    device: Optional[str] = typer.Option(None, "--device", help="cpu, cuda, cuda:N or auto (a GPU when there is one; one per rank under --nproc)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the budget, the task plan and a time forecast; train nothing."),
    forecast_steps: int = typer.Option(3, "--forecast-steps", min=0, help="Training steps a dry run times for its forecast (0: no time forecast)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Warnings and errors only (other libraries' lines included)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="A line per epoch, and other libraries' INFO lines."),
    resume: Optional[str] = typer.Option(None, "--resume", help="Continue the run in this directory from its last checkpoint."),
    import_: list[str] = typer.Option([], "--import", "-i", metavar="MODULE|FILE", help=_IMPORT_HELP),
    nproc: Optional[int] = typer.Option(None, "--nproc", help="Train this one run on N processes (sets distributed.nproc; see docs/distributed.md)."),
) -> None:
    """Run one experiment (the built-in `demo` preset when nothing is given), or resume one."""
    _setup_logging(quiet, verbose)
    with _user_errors("write the run directory"):
        preset = _one_preset(presets)
        with _torch_imports():
            from retain.runs.config import build_config
            from retain.console import Reporter
            from retain.launch import launch as run_experiment
            from retain.launch import resume as resume_run
            from retain.plugins import load_plugins

        out_dir, resume_dir = _out_option(out), _out_option(resume, "--resume")
        overrides = list(set_)
        if device:
            overrides.append(f"device={device}")
        if nproc is not None and resume_dir is None:
            overrides.append(f"distributed.nproc={nproc}")
        _given_once(overrides, seed)
        if resume_dir is not None:
            if out_dir is not None or dry_run:
                raise ConfigError("--resume continues the run in its own directory; leave out --out and --dry-run.")
            # The run's config.yaml names its plugins; --import adds modules to load before it is read.
            load_plugins(import_)
            cfg = None
            if config is not None or preset is not None:
                cfg = build_config(config, preset, overrides, seed, import_)
            elif (overrides or seed is not None) and (resume_dir / "config.yaml").is_file():
                # --set/--seed alone are read against the run's own config, so a difference names just them.
                cfg = build_config(resume_dir / "config.yaml", None, overrides, seed, import_)
            resume_run(resume_dir, cfg, reporter=Reporter(quiet=quiet), nproc=nproc)
            return
        if config is None and preset is None and not _sets_preset(set_):
            preset = "demo"
        cfg = build_config(config, preset, overrides, seed, import_)
        from retain.runs.time_forecast import StepProbe

        run_experiment(cfg, out=out_dir, dry_run=dry_run, reporter=Reporter(quiet=quiet), probe=StepProbe(steps=forecast_steps))


@app.command()
def sweep(
    grid: Path = typer.Argument(..., help="Grid file (YAML): base config, axes, executor, resources; or the name of a shipped grid (`retain list`)."),
    out: Optional[str] = typer.Option(None, "--out", "-o", help="Sweep directory (default: the grid's `out`, else sweeps/<grid name>)."),
    executor: Optional[str] = typer.Option(None, "--executor", "-e", help="local or ray (default: the grid's `executor`)."),
    workers: Optional[int] = typer.Option(None, "--workers", "-w", min=1, help="local executor: parallel worker processes."),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help="Ray cluster: auto or HOST:PORT (default: start a local Ray)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Warnings and errors only (other libraries' lines included)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Other libraries' INFO lines too."),
    import_: list[str] = typer.Option([], "--import", "-i", metavar="MODULE|FILE", help=_IMPORT_HELP + " Added to every cell."),
) -> None:
    """Run every cell of a grid; complete cells are skipped and interrupted ones resumed."""
    _setup_logging(quiet, verbose)
    try:
        with _user_errors("write the sweep directory"):
            from retain.sweeps.sweep import run_sweep

            summary = run_sweep(grid, out=_out_option(out), executor=executor, workers=workers, ray_address=ray_address,
                                log=logging.getLogger("retain").info,
                                imports=list(import_))
    except typer.Exit as stop:
        if stop.exit_code == 130:
            import shlex

            again = shlex.join(["retain", "sweep", str(grid), *(["--out", out] if out else []), *sum((["--import", i] for i in import_), [])])
            _err.print(f"interrupted; run `{again}` again to continue (complete cells are kept, started ones resume).", markup=False)
        raise
    if not quiet:
        repeats = f", {len(summary.repeats)} not run (a memory-free method repeated across budgets)" if summary.repeats else ""
        Console().print(f"{len(summary.finished)} finished, {len(summary.skipped)} already complete, "
                        f"{len(summary.failed)} failed{repeats}; report: {summary.report or '(not written: cells failed)'}",
                        markup=False, highlight=False, soft_wrap=True)
    if summary.failed:
        raise typer.Exit(code=1)


@app.command()
def report(
    path: Path = typer.Argument(..., help="A run directory or a sweep directory."),
    out: Optional[str] = typer.Option(None, "--out", "-o", help="Where to write report.md, runs.csv and plots/ (default: PATH)."),
    latex: bool = typer.Option(False, "--latex", help="Also write the results table as LaTeX (booktabs): report.tex."),
) -> None:
    """Write a Markdown report with plots (PNG and PDF) and a CSV of every run's metrics."""
    with _user_errors("write the report"):
        from retain.reports.report import write_report

        out_dir = _out_option(out)
        if out_dir is not None and out_dir.exists() and not out_dir.is_dir():
            raise ConfigError(f"--out {out!r} is a file; give a directory for report.md, runs.csv and plots/ "
                              "(created if missing), or leave --out out to write into PATH.")
        written = write_report(path, out_dir, latex=latex)
        Console().print(f"report: {written}", markup=False, soft_wrap=True)
        if (written.parent / "report.tex").is_file():
            Console().print(f"LaTeX table: {written.parent / 'report.tex'}", markup=False, soft_wrap=True)


@app.command("list")
def list_things(
    kind: Optional[str] = typer.Argument(None, help="methods, policies, backbones, datasets, presets or grids (default: all)."),
    name: Optional[str] = typer.Argument(None, help="A method: show its parameters with type, default and help; a preset: where its values come from."),
    import_: list[str] = typer.Option([], "--import", "-i", metavar="MODULE|FILE", help=_IMPORT_HELP),
) -> None:
    """Show the presets, methods, datasets, backbones, memory policies and grids retain knows (plugins
    included) with their descriptions; `retain list methods icarl` shows a method's parameters."""
    with _user_errors("read the plugins"):
        from retain import catalog
        from retain.plugins import load_plugins

        load_plugins(import_)
        out = Console()
        if kind is None:
            for each in catalog.KINDS:
                out.print(_catalog_table(each, catalog.entries(each)))
            return
        kind = catalog.check_kind(kind)
        catalog.check_method_detail(kind, name)
        if name is None:
            out.print(_catalog_table(kind, catalog.entries(kind)))
            return
        if kind == "presets":
            _show_preset(out, name)
            return
        name = catalog.canonical_method_name(name)  # a former name lists today's method
        described = dict(catalog.entries("methods"))
        params = catalog.method_parameters(name)
        out.print(f"{name}: {described[name]}", markup=False, highlight=False)
        table = Table(title=f"method.* parameters of {name}")
        for column in ("parameter", "type", "default", "help"):
            table.add_column(column, overflow="fold")
        for param in params:
            table.add_row(f"method.{param.name}", param.type, repr(param.default), param.help)
        out.print(table if params else f"{name} has no parameters.")


def _given_once(overrides: list[str], seed: int | None) -> None:
    """One setting given twice with different values (--set twice, or --set beside --seed, --device
    or --nproc, which add theirs) is refused: the parser would keep the last silently."""
    from retain.config import parse_override

    given: dict[str, object] = {}
    for text in overrides:
        path, value = parse_override(text)
        key = ".".join(path)
        if key in given and given[key] != value:
            raise ConfigError(f"{key} is given twice, as {given[key]!r} and {value!r} (--set, --device and --nproc each "
                              f"set theirs); keep one.")
        given[key] = value
    if seed is not None and "seed" in given and given["seed"] != seed:
        raise ConfigError(f"--seed {seed} and --set seed={given['seed']} disagree; keep one.")


def _sets_preset(sets: list[str]) -> bool:
    """`--set preset=X` chooses the preset itself (no default demo under it)."""
    return any(text.split("=", 1)[0].strip() == "preset" for text in sets)


def _one_preset(presets: list[str] | None) -> str | None:
    """The one --preset given (a run has one; the option parser would keep the last silently)."""
    if presets and len(set(presets)) > 1:
        raise ConfigError(f"--preset is given {len(presets)} times ({', '.join(presets)}); a run has one preset: keep one.")
    return presets[0] if presets else None


def _show_preset(out: Console, name: str) -> None:
    """A preset's description, version and provenance table (`retain list presets NAME`)."""
    from retain import catalog
    from retain.presets import preset_description, preset_version

    rows = catalog.preset_source_rows(name)  # refuses an unknown name, with a suggestion
    out.print(f"{name} (version {preset_version(name)}): {preset_description(name)}", markup=False, highlight=False)
    if not rows:
        out.print(f"{name} names no paper or peer protocol: it has no sources table.", markup=False)
        return
    if out.width < 120:  # four columns in a narrow terminal leave the source a word or two per line
        out.print(f"\nwhere the values of {name} come from (field = value [methods]: source):", markup=False)
        for field, value, methods, source in rows:
            out.print(f"\n{field} = {value} [{methods}]", markup=False, highlight=False)
            out.print(textwrap.fill(source, width=max(out.width - 4, 40), initial_indent="    ",
                                    subsequent_indent="    "), markup=False, highlight=False)
        return
    table = Table(title=f"where the values of {name} come from")
    for column in ("field", "value", "methods", "source"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(escape(cell) for cell in row))
    out.print(table)


def _catalog_table(kind: str, rows: list[tuple[str, str]]) -> Table:
    table = Table(title=kind)
    table.add_column("name", no_wrap=True)
    table.add_column("description", overflow="fold")
    for name, description in rows:
        table.add_row(escape(name), escape(description))
    return table


@app.command()
def matrix(
    out: Optional[str] = typer.Option(None, "--out", "-o", help="Write the Markdown table here (default: print it)."),
) -> None:
    """Every method × scenario kind × codec: where it learns, where it refuses and why."""
    with _user_errors("write the matrix"):
        from retain.files import atomic_write_text
        from retain.methods.matrix import markdown_table

        text = markdown_table()
        path = _out_option(out)
        if path is None:
            Console().print(text, markup=False, highlight=False)
        else:
            atomic_write_text(path, text)
            Console().print(f"matrix: {path}", markup=False)


@app.command()
def budget(
    config: Optional[Path] = typer.Argument(None, help="YAML config file (optional)."),
    presets: Optional[list[str]] = typer.Option(None, "--preset", "-p", help="Named protocol preset (see `retain list`)."),
    set_: list[str] = typer.Option([], "--set", "-s", metavar="KEY=VALUE", help="Override a setting: dotted.key=value (repeatable)."),
    import_: list[str] = typer.Option([], "--import", "-i", metavar="MODULE|FILE", help=_IMPORT_HELP),
) -> None:
    """Exemplar counts per kind of method under the fair protocol and at each AUC budget point."""
    with _user_errors("read the configuration"):
        preset = _one_preset(presets)
        from retain.runs.config import build_config
        from retain.runs.spec import resolve_run

        _given_once(list(set_), None)
        cfg = build_config(config, preset or (None if config or _sets_preset(set_) else "demo"), list(set_), imports=list(import_))
        Console().print(resolve_run(cfg).budget_table(), markup=False, highlight=False, soft_wrap=True)


@app.command()
def memorization(
    out: str = typer.Option(..., "--out", "-o", help="Scores file (.npy; settings go to the .json beside it)."),
    data: str = typer.Option("fashion-mnist", "--data", help="Dataset name."),
    models: int = typer.Option(8, "--models", help="Networks trained on random halves (reference: 250)."),
    epochs: int = typer.Option(5, "--epochs", help="Epochs per network."),
    seed: int = typer.Option(0, "--seed", help="Seed of the splits and initialisations."),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda or cuda:N."),
) -> None:
    """Memorization scores by subsampling (Feldman-Zhang), for analysis and method.scores_file."""
    with _user_errors("write the scores"):
        from retain.methods.memorization_scores import MemorizationSettings, check_scores_path, memorization_scores, save_scores

        settings = MemorizationSettings(dataset=data, n_models=models, epochs=epochs, seed=seed, device=device)
        settings.check()
        scores_path = check_scores_path(_out_option(out))
        scores_path, settings_path = save_scores(memorization_scores(settings), settings, scores_path)
        Console().print(f"scores: {scores_path}  settings: {settings_path}", markup=False)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script (`argv`: the arguments, default sys.argv[1:])."""
    try:
        app(args=argv)
    except RetainError as exc:  # errors raised outside a command body
        _err.print(f"[bold red]error:[/bold red] {escape(str(exc))}", highlight=False)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)


if _previous_sigint is not None:
    signal.signal(signal.SIGINT, _previous_sigint)

if __name__ == "__main__":
    main()
