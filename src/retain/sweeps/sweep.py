"""Grids of runs: a base config plus axes; every cell is a run directory.

A grid file (YAML)::

    base: {preset: demo, train: {epochs: 5}}   # a config mapping, or the path of a config file
    axes:                                      # dotted keys; `method` and `budget` are shorthands
      method: [finetune, replay]               #   for method.name and memory.budget
      budget: ["100 images", "200 images"]
      seed: [0, 1, 2]
      variant:                                 #   a mapping merged into the config, named by `name`
        - {name: rm-no-da, method: {name: rainbow}, augment: {autoaugment: none, cutmix: false}}
    out: sweeps/demo                           # optional (default sweeps/<grid file name>)
    executor: local                            # local | ray
    workers: 1                                 # local: parallel worker processes
    resources: {cpus: 1, gpus: 0}              # per cell (Ray task resources; local: threads)

`retain sweep NAME` runs a grid shipped with retain (`src/retain/scenarios/grids/NAME.yaml`,
listed by `retain list`) when NAME is not a file.

Re-running a sweep skips complete cells and resumes interrupted ones from their checkpoints.
`log.jsonl` gets one line per event: start and skipped from the driver, finished and failed from
whoever ran the cell (a complete cell whose end no line records, e.g. one finished by hand, gets
its finished line on the next re-run), so every cell's end is recorded exactly once.

One process writes a directory at a time: the driver holds the sweep directory's lock, each
cell runs under its run-directory lock (retain.runs.directory). Local workers (with
workers > 1) are fresh interpreters that never import the driver's script, and die with the
driver (retain.sweeps.workers); SIGTERM and Ctrl-C make the driver stop them.
An axis `preset` swaps the base's preset (the base's own settings still apply over it).
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import json
import logging
import os
import re
import signal
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from retain.errors import ConfigError, RetainError
from retain.files import atomic_write_text
from retain.plugins import anchor_imports
from retain.presets import GRIDS_DIR, apply_method_values, grid_description, grid_names  # noqa: F401  (the shipped grids)
from retain.runs.config import (add_imports, apply_override, config_to_dict, deep_merge, merge_preset, read_config_file, read_yaml,
                                validate_config, validation_message)
from retain.runs.dataset_settings import check_dataset_settings
from retain.runs.directory import RunDirLock
from retain.runs.results import write_json
from retain.tracking import check_backends

AXIS_ALIASES = {"method": "method.name", "budget": "memory.budget"}
SHORT_NAMES = {full: short for short, full in AXIS_ALIASES.items()}
RAY_INSTALL_HINT = "install it with `pip install 'retain[ray]'` (or `pip install 'ray[default]'`)"


class Resources(BaseModel):
    """What one cell needs: CPUs (local: torch threads per worker) and GPUs (default: 1 on a cuda device)."""

    model_config = ConfigDict(extra="forbid")
    cpus: float = Field(1, gt=0)
    gpus: float | None = Field(None, ge=0)


class GridFile(BaseModel):
    """The contents of a grid file."""

    model_config = ConfigDict(extra="forbid")
    base: dict[str, Any] | str = Field(default_factory=dict)
    axes: dict[str, list[Any]]
    out: str | None = None
    executor: Literal["local", "ray"] = "local"
    workers: int = Field(1, ge=1)
    ray_address: str | None = None
    resources: Resources = Field(default_factory=Resources)


@dataclass
class Cell:
    """One run of the grid: its axis values, resolved config and run directory."""

    name: str
    axes: dict[str, Any]
    config: dict[str, Any]
    dir: str  # absolute
    journal: str | None = None  # the sweep's log.jsonl, where the cell records its end
    sources: dict[str, str] = field(default_factory=dict)  # where each value came from (config.yaml's header)


# ---------------------------------------------------------------------- reading a grid
def load_grid(path: str | Path) -> GridFile:
    """Read and validate a grid file; a ConfigError names the offending field."""
    data = read_yaml(path)
    try:
        grid = GridFile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(validation_message(exc, GridFile).replace("Invalid configuration", f"Invalid grid file {str(path)!r}")) from None
    check_axes(grid, f"the grid file {str(path)!r}")
    return grid


def check_axes(grid: GridFile, where: str) -> None:
    """Refuse a grid without axes, or with an axis without values (`where` names the grid)."""
    if not grid.axes:
        raise ConfigError(f"{where[0].upper()}{where[1:]} has no axes (`axes: {{}}`); give at least one axis, e.g. "
                          "`axes: {seed: [1, 2, 3]}` (a single run is `retain run`).")
    for key, values in grid.axes.items():
        if not values:
            raise ConfigError(f"Axis `axes.{key}` of {where} is an empty list; give at least one value.")


def resolve_grid(grid: str | Path) -> Path:
    """A grid file's path: `grid` itself when it is a file, else the shipped grid of that name."""
    path = Path(grid)
    if path.is_file():
        return path
    shipped = GRIDS_DIR / f"{path.stem if path.suffix in ('.yaml', '.yml') else grid}.yaml"
    if shipped.is_file():
        return shipped
    raise ConfigError(
        f"Grid file {str(grid)!r} does not exist, and no grid of that name is shipped with retain; pass the path "
        f"of a grid file or one of: {', '.join(grid_names()) or '(none)'}."
    )


def _axis_path(key: str, value: Any) -> list[str]:
    if key == "method" and isinstance(value, dict):
        return ["method"]  # a whole method mapping, e.g. {name: icarl, loss: sigmoid}
    return AXIS_ALIASES.get(key, key).split(".")


def _cell_tree(base_tree: dict[str, Any], axes: dict[str, Any]) -> dict[str, Any]:
    """The config tree of one cell: the preset (the `preset` axis, else the base's) under the base, then the other axes."""
    raw = copy.deepcopy(base_tree)
    if "preset" in axes:
        if not isinstance(axes["preset"], str):
            raise ConfigError(f"axes.preset values are preset names (see `retain list`), got {axes['preset']!r}.")
        raw["preset"] = axes["preset"]
    tree = merge_preset(raw, where="axes.preset" if "preset" in axes else "base.preset of the grid")
    for key, value in axes.items():
        if key == "variant":  # a named mapping merged into the config section by section
            if not isinstance(value, dict) or "name" not in value:
                raise ConfigError(f"axes.variant holds {value!r}; each value must be a mapping with a `name` and the "
                                  "config sections it changes.")
            tree = deep_merge(tree, {k: v for k, v in value.items() if k != "name"})
        elif key != "preset":
            apply_override(tree, _axis_path(key, value), copy.deepcopy(value))
    return apply_method_values(tree)  # the preset's values for the cell's method (by_method)


def _axis_fields(key: str, values: list[Any]) -> set[str]:
    """The config fields an axis sets (a variant: every field any of its mappings sets)."""
    from retain.runs.config import leaf_fields

    if key == "variant":
        return {f for value in values if isinstance(value, dict) for f in leaf_fields({k: v for k, v in value.items() if k != "name"})}
    if key == "method":
        return {"method"}
    return {AXIS_ALIASES.get(key, key)}


def check_axes_disjoint(grid: GridFile, grid_path: Path) -> None:
    """Two axes that set the same field are refused: the cell would run one value and be named by the other."""
    fields = {key: _axis_fields(key, values) for key, values in grid.axes.items()}
    keys = list(fields)
    for i, first in enumerate(keys):
        for second in keys[i + 1:]:
            for a in fields[first]:
                for b in fields[second]:
                    if a == b or a.startswith(b + ".") or b.startswith(a + "."):
                        raise ConfigError(
                            f"Grid {str(grid_path)!r}: axes `{first}` and `{second}` both set `{min(a, b, key=len)}`, so "
                            "a cell would run one value and be labelled with the other; keep one of the two axes."
                        )


def _cell_settings(config: Any, user_base: dict[str, Any], axes: dict[str, Any]) -> dict[str, str]:
    """Refuse a cell whose base or axes set something the cell would not read; return where its values came from."""
    from retain.runs.config import check_not_given_twice, leaf_fields, check_settings_take_effect, config_sources
    from retain.presets import load_preset

    axis_tree: dict[str, Any] = {}
    sources = {field: "grid base" for field in leaf_fields(user_base)}
    for key, value in axes.items():
        part = {k: v for k, v in value.items() if k != "name"} if key == "variant" and isinstance(value, dict) else {}
        if key != "variant":
            apply_override(part, _axis_path(key, value), copy.deepcopy(value))
        axis_tree = deep_merge(axis_tree, part)
        sources.update({field: f"axis {key}" for field in leaf_fields(part)})
    preset_tree = load_preset(config.preset) if config.preset else {}
    check_not_given_twice(deep_merge(user_base, axis_tree))
    check_settings_take_effect(config, deep_merge(user_base, axis_tree), preset_tree)
    check_dataset_settings(config, deep_merge(user_base, axis_tree))
    return config_sources(config, sources, preset_tree)


def _slug(value: Any) -> str:
    text = value.get("name", json.dumps(value, sort_keys=True)) if isinstance(value, dict) else str(value)
    return re.sub(r"[^A-Za-z0-9.-]+", "-", text).strip("-") or "none"


def expand_cells(grid: GridFile, grid_path: Path, sweep_dir: Path, imports: list[str] | None = None) -> list[Cell]:
    """Every combination of the axes, with its config validated (all before any run starts).

    Plugin files in `base.imports` are relative to the file that names them; `imports`
    (`--import`) are added to every cell, so worker processes load them too.
    """
    if isinstance(grid.base, str):
        base_path = Path(grid.base) if Path(grid.base).is_absolute() else grid_path.parent / grid.base
        base_tree = read_config_file(base_path)
    else:
        base_tree = dict(grid.base)
        if "imports" in base_tree:
            base_tree["imports"] = anchor_imports(base_tree["imports"], grid_path.resolve().parent)
    if imports:
        base_tree["imports"] = add_imports(base_tree.get("imports"), imports)
    check_axes_disjoint(grid, grid_path)
    user_base = copy.deepcopy(base_tree)
    base_tree = merge_preset(base_tree, where="base.preset of the grid")
    keys = list(grid.axes)
    cells: list[Cell] = []
    seen: dict[str, dict[str, Any]] = {}
    configs: dict[str, dict[str, Any]] = {}
    for values in itertools.product(*(grid.axes[k] for k in keys)):
        axes = dict(zip(keys, values))
        try:
            tree = _cell_tree(base_tree, axes)
            config = validate_config(tree)
            sources = _cell_settings(config, user_base, axes)
            check_backends(config)  # a logging back-end the cells cannot use fails before the sweep directory exists
        except RetainError as exc:  # ConfigError, BudgetError: keep the kind, name the cell
            raise type(exc)(f"Grid cell {axes} in {str(grid_path)!r}: {exc}") from None
        name = "__".join(f"{SHORT_NAMES.get(k, k)}={_slug(v)}" for k, v in axes.items())
        if name in seen:
            raise ConfigError(
                f"Grid cells {seen[name]} and {axes} in {str(grid_path)!r} get the same directory name {name!r}; "
                "make the axis values differ in letters or digits."
            )
        seen[name] = axes
        resolved = config_to_dict(config)
        same = json.dumps(resolved, sort_keys=True, default=str)
        if same in configs:  # e.g. seed: [1.0, 1]: two names, one run
            raise ConfigError(
                f"Grid cells {configs[same]} and {axes} in {str(grid_path)!r} resolve to the same configuration, so the "
                "second would repeat the first; remove one of the two values."
            )
        configs[same] = axes
        cells.append(Cell(name, axes, resolved, str((sweep_dir / name).resolve()), sources=sources))
    return cells


def memory_free_repeats(cells: list[Cell]) -> dict[str, str]:
    """Cells that would repeat a memory-free method (finetune, joint, ...) already run by an
    earlier cell: their configs differ only in the `memory` section, which such a method ignores.
    Maps each repeat's name to the name of the cell it repeats."""
    from retain.methods import get_method_class

    first: dict[str, str] = {}
    repeats: dict[str, str] = {}
    for cell in cells:
        if get_method_class(cell.config["method"]["name"]).uses_memory:
            continue
        key = json.dumps({k: v for k, v in cell.config.items() if k != "memory"}, sort_keys=True, default=str)
        if key in first:
            repeats[cell.name] = first[key]
        else:
            first[key] = cell.name
    return repeats


def ignored_notes(cells: list[Cell]) -> list[str]:
    """The settings the cells' methods ignore (memory.* of a memory-free method), one note per method."""
    from retain.runs.config import ignored_settings

    keys: dict[str, set[str]] = {}
    counts: dict[str, int] = {}
    for cell in cells:
        notes = ignored_settings(validate_config(cell.config))
        if notes:
            method = cell.config["method"]["name"]
            counts[method] = counts.get(method, 0) + 1
            keys.setdefault(method, set()).update(re.findall(r"memory\.\w+", notes[0]))
    return [f"method.name={method!r} keeps no memory, so {', '.join(sorted(keys[method]))} "
            f"{'is' if len(keys[method]) == 1 else 'are'} ignored in its {counts[method]} cell(s) (no exemplars are stored)"
            for method in counts]


# ---------------------------------------------------------------------- one cell (runs in a worker)
def cell_state(run_dir: Path) -> Literal["complete", "partial", "new"]:
    """complete: results.json says every task is done; partial: the run was started; new: nothing yet."""
    results = run_dir / "results.json"
    if results.is_file():
        try:
            if json.loads(results.read_text()).get("complete"):
                return "complete"
        except json.JSONDecodeError:
            pass
    return "partial" if (run_dir / "config.yaml").is_file() else "new"


def run_cell(cell: dict[str, Any], threads: int | None = None) -> dict[str, Any]:
    """Run (or resume) one cell; returns what happened. Top-level so worker processes and Ray can call it."""
    # Both through retain.launch: a cell with distributed.nproc > 1 starts (and resumes) its ranks.
    from retain.launch import launch as run
    from retain.launch import resume as resume_run

    if threads:
        import torch

        torch.set_num_threads(threads)
    run_dir = Path(cell["dir"])
    state = cell_state(run_dir)
    started = time.perf_counter()
    outcome: dict[str, Any] = {"cell": cell["name"], "mode": "resumed" if state == "partial" else "new", "started_at": time.time()}
    if cell.get("journal"):  # when this cell really starts (the driver only queued it)
        with contextlib.suppress(OSError):
            _Journal(Path(cell["journal"])).write(cell["name"], "start", mode=outcome["mode"])
    try:
        config = validate_config(cell["config"])
        config._sources = dict(cell.get("sources") or {})
        results = resume_run(run_dir, config) if state == "partial" else run(config, out=run_dir)
    except RetainError as exc:
        outcome.update(event="failed", error=str(exc), seconds=time.perf_counter() - started)
    except Exception as exc:  # one broken cell must not stop the others
        outcome.update(event="failed", error=f"{type(exc).__name__}: {exc}", seconds=time.perf_counter() - started)
    else:
        outcome.update(event="finished", seconds=time.perf_counter() - started, last_accuracy=results["metrics"]["last_accuracy"])
    outcome["ended_at"] = time.time()
    if cell.get("journal"):  # recorded by the process that ran the cell, so a dying driver cannot lose it
        try:
            _Journal(Path(cell["journal"])).write(cell["name"], outcome["event"],
                                                  **{k: v for k, v in outcome.items() if k not in ("cell", "event")})
            outcome["recorded"] = True
        except OSError:  # e.g. a Ray node that does not share the sweep's folder: the driver records it
            pass
    return outcome


# ---------------------------------------------------------------------- executors
def _local(payloads: list[dict[str, Any]], workers: int, threads: int) -> Iterator[dict[str, Any]]:
    if workers == 1:
        for payload in payloads:
            yield run_cell(payload, threads)
        return
    from retain.sweeps.workers import WorkerPool

    yield from WorkerPool(workers, threads).run(payloads)  # closing this generator kills the workers


@contextlib.contextmanager
def _sigterm_stops_driver():
    """SIGTERM ends the driver like Ctrl-C (so it stops its workers); the old handler comes back after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt("SIGTERM")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def import_ray():
    """The ray module, or a ConfigError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError(f"--executor ray needs Ray, which is not installed; {RAY_INSTALL_HINT}.") from None
    return ray


def _ray(payloads: list[dict[str, Any]], address: str | None, cpus: float, gpus: float) -> Iterator[dict[str, Any]]:
    """One Ray task per cell; uses a running Ray (ray.init already called), `address`, or starts a local one."""
    if not payloads:  # nothing left to run: no Ray to start (seconds)
        return
    ray = import_ray()
    started_here = not ray.is_initialized()
    if started_here:
        # ray.init sets its logger to `logging_level` (INFO by default): keep the level -q/-v gave it.
        level = logging.getLogger("ray").getEffectiveLevel()
        ray.init(address=address, log_to_driver=False, logging_level=level) if address else \
            ray.init(log_to_driver=False, logging_level=level)
    try:
        remote = ray.remote(num_cpus=cpus, num_gpus=gpus)(run_cell)
        pending = {remote.remote(payload, max(1, int(cpus))): payload for payload in payloads}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                del pending[ref]
                yield ray.get(ref)
    finally:
        if started_here:
            ray.shutdown()


# ---------------------------------------------------------------------- the sweep
@dataclass
class SweepSummary:
    """What one `retain sweep` invocation did."""

    dir: Path
    cells: int
    skipped: list[str]
    finished: list[str]
    failed: dict[str, str]
    report: Path | None = None
    repeats: dict[str, str] = field(default_factory=dict)  # cell not run -> the cell it would repeat


def run_sweep(
    grid_path: str | Path,
    out: str | Path | None = None,
    executor: str | None = None,
    workers: int | None = None,
    ray_address: str | None = None,
    log: Callable[[str], None] = lambda message: None,
    imports: list[str] | None = None,
) -> SweepSummary:
    """Run every cell of the grid that is not complete yet (arguments override the grid file).

    `grid_path` is a grid file or the name of a grid shipped with retain; `imports` are plugin
    modules or files added to every cell's config (`--import`).
    """
    grid_path = resolve_grid(grid_path)
    grid = load_grid(grid_path)
    executor = executor or grid.executor
    if executor not in ("local", "ray"):
        raise ConfigError(f"--executor {executor!r} is not an executor; use local or ray.")
    if executor == "ray":
        import_ray()  # fail before anything is written
    workers = workers or grid.workers
    sweep_dir = Path(out or grid.out or Path("sweeps") / grid_path.stem)
    if sweep_dir.exists() and not sweep_dir.is_dir():
        raise ConfigError(f"Sweep directory {str(sweep_dir)!r} (--out or the grid's `out`) is a file; choose a directory.")
    cells = expand_cells(grid, grid_path, sweep_dir, imports)
    check_sweep_dir(sweep_dir, cells)
    with RunDirLock(sweep_dir, what="sweep directory"), _sigterm_stops_driver():
        check_sweep_dir(sweep_dir, cells)  # again under the lock
        return _drive(grid, grid_path, sweep_dir, cells, executor, workers, ray_address, log)


def check_sweep_dir(sweep_dir: Path, cells: list[Cell]) -> None:
    """Refuse a sweep directory that is a run, holds files of something else, or holds a cell run with
    another config than the grid now gives it (a changed base or axes): nothing is written."""
    from retain.runs.checkpoint import config_differences, with_resolved_method
    from retain.runs.directory import RUN_FILES, SWEEP_FILES, check_no_foreign_files

    if not sweep_dir.is_dir():
        return
    if any((sweep_dir / name).exists() for name in RUN_FILES):
        raise ConfigError(f"Sweep directory {str(sweep_dir)!r} (--out or the grid's `out`) is a run directory (it holds "
                          "config.yaml/results.json); choose another directory for the sweep. Nothing was written.")
    if not any((sweep_dir / name).exists() for name in SWEEP_FILES):
        check_no_foreign_files(sweep_dir, "Sweep directory", "a sweep")
    changed = []
    for cell in cells:
        saved = Path(cell.dir) / "config.yaml"
        if not saved.is_file():
            continue
        try:
            old = with_resolved_method(read_yaml(saved))
        except ConfigError as exc:
            changed.append(f"{cell.name}: {exc}")
            continue
        differences = config_differences(old, cell.config, neutral=False)
        if differences:
            changed.append(f"{cell.name} ({'; '.join(differences[:3])}{'; ...' if len(differences) > 3 else ''})")
    if changed:
        raise ConfigError(
            f"Sweep directory {str(sweep_dir)!r} holds {len(changed)} cell(s) run with another configuration than the grid "
            f"now gives them: {', '.join(changed[:4])}{' and more' if len(changed) > 4 else ''}. A cell is never "
            "reported as another; run the changed grid into a new --out, or delete those cell directories to run them again. "
            "Nothing was written."
        )


def _drive(grid: GridFile, grid_path: Path, sweep_dir: Path, cells: list[Cell], executor: str, workers: int,
           ray_address: str | None, log: Callable[[str], None]) -> SweepSummary:
    """Run the cells that are not complete (holding the sweep directory's lock) and write the report."""
    atomic_write_text(sweep_dir / "grid.yaml", grid_path.read_text())
    repeats = memory_free_repeats(cells)
    all_cells, cells = len(cells), [cell for cell in cells if cell.name not in repeats]
    write_json(sweep_dir / "cells.json", [{"name": c.name, "dir": c.name, "axes": c.axes} for c in cells])
    journal = _Journal(sweep_dir / "log.jsonl")
    recorded = journal.finished_cells()
    if repeats:
        log(f"sweep {sweep_dir}: not running {len(repeats)} cell(s) that would repeat a memory-free method across "
            "budgets (the method ignores memory.*):")
        for name, same in repeats.items():
            log(f"  {name} = {same}")
            journal.write(name, "repeat", same_as=same)

    for note in ignored_notes(cells):  # once for the sweep; the cells run quietly
        log(f"note: {note}")
    todo, skipped = [], []
    for cell in cells:
        state = cell_state(Path(cell.dir))
        if state == "complete":
            skipped.append(cell.name)
            if cell.name in recorded:
                journal.write(cell.name, "skipped")
            else:  # finished by a process that could not record it (killed just after, or a resume by hand)
                journal.write(cell.name, "finished", mode="elsewhere", note="found complete; recorded on this re-run")
        else:
            cell.journal = str(journal.path.resolve())
            todo.append(cell)
            journal.write(cell.name, "queued", mode="resumed" if state == "partial" else "new")
    resumed = sum(cell_state(Path(cell.dir)) == "partial" for cell in todo)
    log(f"sweep {sweep_dir}: {all_cells} cells, {len(repeats)} repeats, {len(skipped)} complete, {len(todo)} to run"
        f"{f' ({resumed} resumed from their checkpoints)' if resumed else ''} ({executor})")
    payloads = [asdict(cell) for cell in todo]
    cpus = grid.resources.cpus
    if executor == "ray":
        gpus = grid.resources.gpus if grid.resources.gpus is not None else (1 if todo and todo[0].config["device"].startswith("cuda") else 0)
        outcomes = _ray(payloads, ray_address or grid.ray_address, cpus, gpus)
    else:
        threads = max(1, int(cpus)) if workers > 1 else None
        outcomes = _local(payloads, workers, threads or 0)
    finished, failed = [], {}
    with contextlib.closing(outcomes):  # closing the generator stops its workers, also on Ctrl-C
        for outcome in outcomes:
            if not outcome.pop("recorded", False):
                journal.write(outcome["cell"], outcome["event"], **{k: v for k, v in outcome.items() if k not in ("cell", "event")})
            if outcome["event"] == "finished":
                finished.append(outcome["cell"])
                log(f"  {outcome['cell']}: finished ({outcome['mode']}) in {outcome['seconds']:.1f} s, last accuracy {outcome['last_accuracy']:.2f}%")
            else:
                failed[outcome["cell"]] = outcome["error"]
                log(f"  {outcome['cell']}: FAILED: {outcome['error']}")
    summary = SweepSummary(sweep_dir, all_cells, skipped, finished, failed, repeats=repeats)
    if not failed:
        from retain.reports.report import write_report

        summary.report = write_report(sweep_dir)
    return summary


class _Journal:
    """Appends one JSON line per event (the driver and the processes running cells share it).

    Each line goes out in one O_APPEND write, so lines of different processes never interleave.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, cell: str, event: str, **fields: Any) -> None:
        line = json.dumps({"time": time.time(), "cell": cell, "event": event, **fields}) + "\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def finished_cells(self) -> set[str]:
        """Cells with a finished line (a line cut by a kill is skipped)."""
        if not self.path.is_file():
            return set()
        done = set()
        for line in self.path.read_text(errors="replace").splitlines():
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(event, dict) and event.get("event") == "finished":
                done.add(event.get("cell"))
        return done
