"""What `retain report` checks of a sweep's cells before it reports them.

A report lists the cells of the grid (cells.json); each must be the run its label says:
- a cell whose directory or results.json is missing is named (the report says it has fewer runs);
- a cell whose results.json config holds another cell's axis value (cells.json's `axes` edited
  by hand, entries swapped) is refused: its numbers would be labelled with the other value;
- a run (a cell or not) whose config.yaml no longer describes the run its results.json records
  is refused, as `retain run --resume` refuses it (`check_results_config`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from retain.errors import ConfigError


_AXIS_FIELDS = {"method": "method.name", "budget": "memory.budget"}  # the grid's shorthands (sweep.AXIS_ALIASES)


def missing_cells(root: Path) -> list[str]:
    """Sentences naming the cells of the sweep at `root` that have no results.json (none for a non-sweep)."""
    cells = _cells(root)
    said = []
    for cell in cells:
        folder = root / str(cell.get("dir"))
        if not folder.is_dir():
            said.append(f"cell {cell.get('name')!r}: its directory {str(folder)!r} is missing")
        elif not (folder / "results.json").is_file():
            said.append(f"cell {cell.get('name')!r}: {str(folder)!r} has no results.json (not run yet, or it failed)")
    return said


def check_cells(root: Path, records: list[Any]) -> None:
    """ConfigError when a reported run's config.yaml does not describe its results.json, or a sweep
    cell's config is not the one its axes say."""
    for record in records:
        _check_config_yaml(record.path, record.results)
    cells = _cells(root)
    if not cells:
        return
    values: dict[str, list[Any]] = {}
    for cell in cells:
        for key, value in (cell.get("axes") or {}).items():
            values.setdefault(key, []).append(value)
    for record in records:
        _check_axes(record, values)


def _check_axes(record: Any, values: dict[str, list[Any]]) -> None:
    from retain.config.activity import value_at

    config = record.results.get("config")
    if not isinstance(config, dict):
        return
    for key, value in record.axes.items():
        if key in ("variant", "preset"):
            continue
        recorded = value_at(config, _AXIS_FIELDS.get(key, key))
        others = [v for v in values.get(key, []) if v != value]
        # Only a value another cell is labelled with is proof: a recorded form may differ from the
        # written one (e.g. a budget's spelling) without being another cell's.
        if recorded != value and recorded in others:
            raise ConfigError(
                f"`retain report`: the sweep cell {str(record.path)!r} is labelled {key}={value!r} in cells.json, but its "
                f"results.json ran {key}={recorded!r} (another cell's value); cells.json was edited. Restore cells.json "
                "(`retain sweep` with the grid rewrites it). Nothing was written."
            )


def _check_config_yaml(run_dir: Path, results: dict[str, Any]) -> None:
    from retain.runs.config import read_yaml, validate_config
    from retain.runs.results_config import check_results_config

    if not (run_dir / "config.yaml").is_file():
        return
    try:
        saved = validate_config(read_yaml(run_dir / "config.yaml"))
    except ConfigError as exc:
        raise ConfigError(f"`retain report`: {str(run_dir / 'config.yaml')!r} is not a valid run config ({exc}); "
                          "restore it. Nothing was written.") from None
    try:
        check_results_config(run_dir, saved, results)
    except ConfigError:
        raise
    except Exception as exc:  # CheckpointError and kin are RetainErrors: say them as the report's
        raise ConfigError(f"`retain report`: {exc}") from None


def _cells(root: Path) -> list[dict[str, Any]]:
    path = root / "cells.json"
    if not path.is_file():
        return []
    try:
        listed = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return []  # collect_runs refuses an unreadable cells.json
    return [c for c in listed if isinstance(c, dict)] if isinstance(listed, list) else []
