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
The driver appends one line per event to `log.jsonl` (start, skipped, finished, failed).
"""

from __future__ import annotations

import copy
import itertools
import json
import os
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from retain.errors import ConfigError, RetainError
from retain.experiment.config import apply_override, config_to_dict, merge_preset, read_yaml, validate_config, validation_message
from retain.experiment.results import atomic_write_text, write_json

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


# ---------------------------------------------------------------------- reading a grid
def load_grid(path: str | Path) -> GridFile:
    """Read and validate a grid file; a ConfigError names the offending field."""
    data = read_yaml(path)
    try:
        grid = GridFile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(validation_message(exc).replace("Invalid configuration", f"Invalid grid file {str(path)!r}")) from None
    for key, values in grid.axes.items():
        if not values:
            raise ConfigError(f"Grid axis `axes.{key}` in {str(path)!r} is an empty list; give at least one value.")
    return grid


GRIDS_DIR = Path(__file__).resolve().parents[1] / "scenarios" / "grids"


def grid_names() -> list[str]:
    """Names of the grids shipped with retain."""
    return sorted(p.stem for p in GRIDS_DIR.glob("*.yaml"))


def resolve_grid(grid: str | Path) -> Path:
    """A grid file's path: `grid` itself when it is a file, else the shipped grid of that name."""
    path = Path(grid)
    if path.is_file():
        return path
    shipped = GRIDS_DIR / f"{path.stem if path.suffix in ('.yaml', '.yml') else grid}.yaml"
    if shipped.is_file():
        return shipped
    raise ConfigError(
        f"Grid {str(grid)!r} is neither a file nor a grid shipped with retain; pass the path of a grid "
        f"file or one of: {', '.join(grid_names()) or '(none)'}."
    )


def _merge(tree: dict[str, Any], mapping: dict[str, Any]) -> None:
    """Merge `mapping` into `tree` section by section (a `variant` axis value)."""
    for key, value in mapping.items():
        if isinstance(value, dict) and isinstance(tree.get(key), dict):
            _merge(tree[key], value)
        else:
            tree[key] = copy.deepcopy(value)


def _axis_path(key: str, value: Any) -> list[str]:
    if key == "method" and isinstance(value, dict):
        return ["method"]  # a whole method mapping, e.g. {name: icarl, loss: sigmoid}
    return AXIS_ALIASES.get(key, key).split(".")


def _slug(value: Any) -> str:
    text = value.get("name", json.dumps(value, sort_keys=True)) if isinstance(value, dict) else str(value)
    return re.sub(r"[^A-Za-z0-9.-]+", "-", text).strip("-") or "none"


def expand_cells(grid: GridFile, grid_path: Path, sweep_dir: Path) -> list[Cell]:
    """Every combination of the axes, with its config validated (all before any run starts)."""
    if isinstance(grid.base, str):
        base_path = Path(grid.base) if Path(grid.base).is_absolute() else grid_path.parent / grid.base
        base_tree = read_yaml(base_path)
    else:
        base_tree = grid.base
    base_tree = merge_preset(base_tree)
    keys = list(grid.axes)
    cells: list[Cell] = []
    seen: dict[str, dict[str, Any]] = {}
    for values in itertools.product(*(grid.axes[k] for k in keys)):
        axes = dict(zip(keys, values))
        tree = copy.deepcopy(base_tree)
        for key, value in axes.items():
            if key == "variant":
                if not isinstance(value, dict) or "name" not in value:
                    raise ConfigError(f"Grid axis `axes.variant` in {str(grid_path)!r} holds {value!r}; each value must be a "
                                      "mapping with a `name` and the config sections it changes.")
                _merge(tree, {k: v for k, v in value.items() if k != "name"})
                continue
            apply_override(tree, _axis_path(key, value), copy.deepcopy(value))
        try:
            config = validate_config(tree)
        except RetainError as exc:  # ConfigError, BudgetError: keep the kind, name the cell
            raise type(exc)(f"Grid cell {axes} in {str(grid_path)!r}: {exc}") from None
        name = "__".join(f"{SHORT_NAMES.get(k, k)}={_slug(v)}" for k, v in axes.items())
        if name in seen:
            raise ConfigError(
                f"Grid cells {seen[name]} and {axes} in {str(grid_path)!r} get the same directory name {name!r}; "
                "make the axis values differ in letters or digits."
            )
        seen[name] = axes
        cells.append(Cell(name, axes, config_to_dict(config), str((sweep_dir / name).resolve())))
    return cells


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
    from retain.experiment.run import resume_run, run

    if threads:
        import torch

        torch.set_num_threads(threads)
    run_dir = Path(cell["dir"])
    state = cell_state(run_dir)
    started = time.perf_counter()
    outcome: dict[str, Any] = {"cell": cell["name"], "mode": "resumed" if state == "partial" else "new"}
    try:
        config = validate_config(cell["config"])
        results = resume_run(run_dir, config) if state == "partial" else run(config, out=run_dir)
    except RetainError as exc:
        return {**outcome, "event": "failed", "error": str(exc), "seconds": time.perf_counter() - started}
    except Exception as exc:  # one broken cell must not stop the others
        return {**outcome, "event": "failed", "error": f"{type(exc).__name__}: {exc}", "seconds": time.perf_counter() - started}
    return {**outcome, "event": "finished", "seconds": time.perf_counter() - started,
            "last_accuracy": results["metrics"]["last_accuracy"]}


# ---------------------------------------------------------------------- executors
def _local(payloads: list[dict[str, Any]], workers: int, threads: int) -> Iterator[dict[str, Any]]:
    if workers == 1:
        for payload in payloads:
            yield run_cell(payload, threads)
        return
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from multiprocessing import get_context

    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(run_cell, payload, threads) for payload in payloads]
        for future in as_completed(futures):
            yield future.result()


def import_ray():
    """The ray module, or a ConfigError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError(f"--executor ray needs Ray, which is not installed; {RAY_INSTALL_HINT}.") from None
    return ray


def _ray(payloads: list[dict[str, Any]], address: str | None, cpus: float, gpus: float) -> Iterator[dict[str, Any]]:
    """One Ray task per cell; uses a running Ray (ray.init already called), `address`, or starts a local one."""
    ray = import_ray()
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, log_to_driver=False) if address else ray.init(log_to_driver=False)
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


def run_sweep(
    grid_path: str | Path,
    out: str | Path | None = None,
    executor: str | None = None,
    workers: int | None = None,
    ray_address: str | None = None,
    log: Callable[[str], None] = lambda message: None,
) -> SweepSummary:
    """Run every cell of the grid that is not complete yet (arguments override the grid file)."""
    grid_path = resolve_grid(grid_path)
    grid = load_grid(grid_path)
    executor = executor or grid.executor
    if executor not in ("local", "ray"):
        raise ConfigError(f"--executor {executor!r} is not an executor; use local or ray.")
    if executor == "ray":
        import_ray()  # fail before anything is written
    workers = workers or grid.workers
    sweep_dir = Path(out or grid.out or Path("sweeps") / grid_path.stem)
    cells = expand_cells(grid, grid_path, sweep_dir)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(sweep_dir / "grid.yaml", grid_path.read_text())
    write_json(sweep_dir / "cells.json", [{"name": c.name, "dir": c.name, "axes": c.axes} for c in cells])
    journal = _Journal(sweep_dir / "log.jsonl")

    todo, skipped = [], []
    for cell in cells:
        state = cell_state(Path(cell.dir))
        if state == "complete":
            skipped.append(cell.name)
            journal.write(cell.name, "skipped")
        else:
            todo.append(cell)
            journal.write(cell.name, "start", mode="resumed" if state == "partial" else "new")
    log(f"sweep {sweep_dir}: {len(cells)} cells, {len(skipped)} complete, {len(todo)} to run ({executor})")
    payloads = [asdict(cell) for cell in todo]
    cpus = grid.resources.cpus
    if executor == "ray":
        gpus = grid.resources.gpus if grid.resources.gpus is not None else (1 if todo and todo[0].config["device"].startswith("cuda") else 0)
        outcomes = _ray(payloads, ray_address or grid.ray_address, cpus, gpus)
    else:
        threads = max(1, int(cpus)) if workers > 1 else None
        outcomes = _local(payloads, workers, threads or 0)
    finished, failed = [], {}
    for outcome in outcomes:
        journal.write(outcome["cell"], outcome["event"], **{k: v for k, v in outcome.items() if k not in ("cell", "event")})
        if outcome["event"] == "finished":
            finished.append(outcome["cell"])
            log(f"  {outcome['cell']}: finished ({outcome['mode']}) in {outcome['seconds']:.1f} s, last accuracy {outcome['last_accuracy']:.2f}%")
        else:
            failed[outcome["cell"]] = outcome["error"]
            log(f"  {outcome['cell']}: FAILED: {outcome['error']}")
    summary = SweepSummary(sweep_dir, len(cells), skipped, finished, failed)
    if not failed:
        from retain.experiment.report import write_report

        summary.report = write_report(sweep_dir)
    return summary


class _Journal:
    """Appends one JSON line per event; only the driver writes it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, cell: str, event: str, **fields: Any) -> None:
        line = json.dumps({"time": time.time(), "cell": cell, "event": event, **fields}) + "\n"
        with open(self.path, "a") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())
