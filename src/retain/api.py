"""The Python API in four functions: make a config, run it, load a run's results, run a grid.

    import retain

    results = retain.run("demo", method="lwf", imports=["./lwf.py"], train__epochs=5, seed=1)
    print(results.last_accuracy, results.accuracy_matrix)
    again = retain.load_results(results.run_dir)
    summary = retain.sweep("grid.yaml", workers=2)

Everything here is what `retain run`, `retain sweep` and `retain report` do, without the
command line: the same config validation, plugins, run directories and errors.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from retain.config import RetainConfig, config_to_dict, deep_merge
from retain.errors import ConfigError, SweepError
from retain.plugins import anchor_imports
from retain.presets import apply_method_values, preset_names
from retain.runs.config import add_imports, merge_preset, read_config_file, validate_config
from retain.runs.results import upgraded
from retain.sweeps.sweep import SweepSummary, run_sweep

ConfigSource = RetainConfig | Mapping[str, Any] | str | Path | None


class Results(dict):
    """A run's results (the contents of its results.json) as a dict, with shortcuts to the main numbers.

    Keys are those of results.json (`accuracy_matrix`, `stage_accuracy`, `metrics`,
    `accuracy`, `ledger`, `timings`, ...); accuracies are in percent.
    """

    @property
    def run_dir(self) -> Path | None:
        """The run directory (None for a dry run)."""
        return Path(self["run_dir"]) if self.get("run_dir") else None

    @property
    def accuracy_matrix(self) -> list[list[float]]:
        """Row t = after task t, column j = accuracy on task j's classes (NaN above the diagonal)."""
        return self["accuracy_matrix"]

    @property
    def stage_accuracy(self) -> list[float]:
        """Accuracy on all classes seen so far, after each task."""
        return self["stage_accuracy"]

    @property
    def metrics(self) -> dict[str, float]:
        """Average incremental accuracy, last accuracy, forgetting, ... of the primary score."""
        return self["metrics"]

    @property
    def last_accuracy(self) -> float:
        """Accuracy on every seen class after the last task."""
        return self["metrics"]["last_accuracy"]

    @property
    def average_incremental_accuracy(self) -> float:
        """The mean of `stage_accuracy` (first task included)."""
        return self["metrics"]["average_incremental_accuracy"]

    @property
    def config(self) -> dict[str, Any]:
        """The fully resolved config of the run."""
        return self["config"]


def make_config(config_or_path: ConfigSource = None, *, imports: list[str] | None = None, **overrides: Any) -> RetainConfig:
    """A validated config from a config object, a mapping, a YAML file or a preset name (None: `demo`).

    `overrides` set config keys: `seed=3`, `method="lwf"` (a method section is replaced as a whole:
    `method={"name": "icarl", "loss": "sigmoid"}`), a section given as a mapping is merged into
    it (`train={"epochs": 2}`; `model.options` and `data.options` are replaced whole, so
    `model={"backbone": "convnet2", "options": {}}` drops the preset's MLP options), and a double
    underscore reaches into a section
    (`train__epochs=2`, `memory__budget="200 images"`). `imports` are plugin modules or .py files
    (relative to the current directory) added to the config's own. Raises ConfigError.
    """
    tree = _config_tree(config_or_path)
    for key, value in overrides.items():
        path = key.split("__")
        if path == ["method"]:
            tree["method"] = copy.deepcopy(value)
        else:
            _merge_at(tree, path, value)
    if imports:
        tree["imports"] = add_imports(tree.get("imports"), list(imports))
    return validate_config(apply_method_values(tree))


def run(
    config_or_path: ConfigSource = None,
    *,
    out: str | Path | None = None,
    dry_run: bool = False,
    quiet: bool = True,
    imports: list[str] | None = None,
    **overrides: Any,
) -> Results:
    """Run one experiment like `retain run` and return its results.

    `config_or_path` and `overrides` are those of `make_config`; `out` is the run directory
    (default `runs/<preset>-<method>-seed<N>-<time>`), which must not hold a run already.
    `dry_run` prints the plan and forecast and trains nothing; `quiet=False` shows progress and
    the final table. Under `budget.protocol: auc` without `budget.point` every budget point is
    run and the AUC summary is returned. Raises a `retain.errors.RetainError` on bad input.
    """
    from retain.console import Reporter
    from retain.launch import launch

    config = make_config(config_or_path, imports=imports, **overrides)
    return Results(launch(config, out=out, dry_run=dry_run, reporter=Reporter(quiet=quiet)))


def load_results(run_dir: str | Path) -> Results:
    """The results.json of a run directory (complete or not) as `Results`; ConfigError when there is none."""
    path = Path(run_dir) / "results.json"
    if not path.is_file():
        raise ConfigError(
            f"{str(run_dir)!r} holds no results.json; pass the directory of a run (the --out of `retain run`) "
            "that finished at least one task."
        )
    try:
        return Results(upgraded(json.loads(path.read_text())))
    except json.JSONDecodeError as error:
        raise ConfigError(f"{str(path)!r} is not valid JSON ({error}); it was not written by retain.") from None


def sweep(
    grid: str | Path | Mapping[str, Any],
    *,
    out: str | Path | None = None,
    executor: str | None = None,
    workers: int | None = None,
    ray_address: str | None = None,
    imports: list[str] | None = None,
    quiet: bool = True,
) -> SweepSummary:
    """Run every cell of a grid like `retain sweep`: complete cells are skipped, interrupted ones resumed.

    `grid` is a grid file or its contents as a mapping (`base`, `axes`, and optionally `out`,
    `executor`, `workers`, `resources`; see docs/experiments.md); a mapping needs `out` (here
    or in it), where it is saved as grid.yaml. The other arguments override the grid's own;
    `imports` are plugin modules or files added to every cell. Returns the `SweepSummary`
    (finished, skipped and repeated cells, the report's path). Raises `retain.errors.SweepError`
    when a cell failed (its `summary` holds every cell's outcome; a second call resumes them).

    Local workers (`workers` > 1) are fresh processes that do not import your script, so a
    plain script whose top level calls `retain.sweep(...)` works; no `if __name__ ==
    "__main__":` guard is needed (the same holds for Ray).
    """
    log = (lambda message: None) if quiet else print
    if isinstance(grid, Mapping):
        grid_path = _save_grid(dict(grid), out)
        out = out or grid_path.parent
    else:
        grid_path = Path(grid)
    summary = run_sweep(grid_path, out=out, executor=executor, workers=workers, ray_address=ray_address,
                        log=log, imports=list(imports or []))
    if summary.failed:
        name, error = next(iter(summary.failed.items()))
        # The cell's own error (possibly a traceback) goes last, on its own lines, after what to do.
        raise SweepError(
            f"{len(summary.failed)} of {summary.cells} cells of the sweep in {str(summary.dir)!r} failed; the others are "
            "kept, and calling retain.sweep again (or `retain sweep` on the same grid) resumes the failed ones. Every "
            f"cell's outcome is in the sweep's log.jsonl and in this error's `summary`.\n\nThe first failed cell, "
            f"{name}:\n{error}", summary)
    return summary


# ---------------------------------------------------------------------- helpers
def _config_tree(source: ConfigSource) -> dict[str, Any]:
    if source is None:
        return merge_preset({}, "demo")
    if isinstance(source, RetainConfig):
        return config_to_dict(source)
    if isinstance(source, Mapping):
        return merge_preset(copy.deepcopy(dict(source)), where="the config mapping's preset")
    if isinstance(source, (str, Path)):
        if Path(source).is_file():
            return merge_preset(read_config_file(source), where=f"preset: in {source}")
        if isinstance(source, str) and source in preset_names():
            return merge_preset({}, source)
    raise ConfigError(
        f"config_or_path = {source!r} is neither a config file that exists nor a preset name "
        f"({', '.join(preset_names())}), a mapping or a RetainConfig."
    )


def _merge_at(tree: dict[str, Any], path: list[str], value: Any) -> None:
    """Set tree[path] = value; a mapping value is merged into a mapping already there."""
    if any(not part for part in path):
        raise ConfigError(f"Override {'__'.join(path)!r} has an empty key; use section__key=value, e.g. train__epochs=2.")
    node = tree
    for part in path[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    current = node.get(path[-1])
    if isinstance(value, Mapping) and isinstance(current, dict) and ".".join(path) not in WHOLE_MAPPINGS:
        node[path[-1]] = deep_merge(current, {k: v for k, v in value.items() if ".".join([*path, k]) not in WHOLE_MAPPINGS})
        for key in value:  # model={"backbone": ..., "options": {}}: the options are replaced, not merged
            if ".".join([*path, key]) in WHOLE_MAPPINGS:
                node[path[-1]][key] = copy.deepcopy(value[key])
    else:
        node[path[-1]] = copy.deepcopy(value)


# Mappings that are one setting (a backbone's or dataset's options): given, they replace the preset's
# whole, as `--set model.options={}` does (merged, a swapped backbone would keep the old one's options).
WHOLE_MAPPINGS = ("model.options", "data.options")


def _save_grid(grid: dict[str, Any], out: str | Path | None) -> Path:
    """Write a grid given as a mapping to `<out>/grid.yaml`, its relative paths made absolute first."""
    target = out or grid.get("out")
    if not target:
        raise ConfigError("retain.sweep(grid=<mapping>) needs `out` (an argument or a key of the grid): the sweep directory.")
    base = grid.get("base")
    if isinstance(base, str) and not Path(base).is_absolute():
        grid["base"] = str(Path(base).resolve())
    elif isinstance(base, Mapping) and "imports" in base:
        grid["base"] = {**base, "imports": anchor_imports(base["imports"], Path.cwd())}
    folder = Path(target)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "grid.yaml"
    path.write_text(yaml.safe_dump(grid, sort_keys=False))
    return path
