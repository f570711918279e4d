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
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from retain.config import RetainConfig, config_to_dict, deep_merge, validation_message
from retain.errors import ConfigError, SweepError
from retain.plugins import anchor_imports
from retain.presets import apply_method_values, load_preset, preset_names
from retain.runs.config import add_imports, check_not_given_twice, merge_preset, read_config_file, validate_config
from retain.runs.results import upgraded
from retain.sweeps.sweep import GridFile, SweepSummary, check_axes, run_sweep

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
    (relative to the current directory) added to the config's own. `preset="name"` chooses the
    preset when `config_or_path` names none (it may repeat the one it names, never another).
    A setting given twice (`train={"epochs": 2}` and `train__epochs=1`) is refused. Raises ConfigError.
    """
    imports = _checked_imports(imports)
    preset = _checked_preset(overrides.pop("preset", None))
    _check_overrides(overrides)
    _check_moved_settings(config_or_path, overrides)
    if config_or_path is None and preset is not None:
        config_or_path = preset
    tree = _with_preset(_config_tree(config_or_path), config_or_path, preset)
    for key, value in sorted(overrides.items(), key=lambda item: item[0].count("__")):  # sections before their keys
        path = key.split("__")
        if path == ["method"]:
            tree["method"] = copy.deepcopy(value)
        else:
            _merge_at(tree, path, value)
    if imports:
        tree["imports"] = add_imports(tree.get("imports"), imports)
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

    _check_type("out", out, (str, os.PathLike, type(None)), "a path (a str or pathlib.Path) or None")
    _check_type("dry_run", dry_run, bool, "True or False")
    _check_type("quiet", quiet, bool, "True or False")
    config = make_config(config_or_path, imports=imports, **overrides)
    return Results(launch(config, out=out, dry_run=dry_run, reporter=Reporter(quiet=quiet)))


def load_results(run_dir: str | Path) -> Results:
    """The results.json of a run directory (complete or not) as `Results`; ConfigError when there is none."""
    _check_type("run_dir", run_dir, (str, os.PathLike), "the path of a run directory (a str or pathlib.Path)")
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
    `imports` are plugin modules or files added to every cell. A grid mapping is checked
    before it is saved (ConfigError names the bad key). Returns the `SweepSummary`
    (finished, skipped and repeated cells, the report's path). Raises `retain.errors.SweepError`
    when a cell failed (its `summary` holds every cell's outcome; a second call resumes them).

    Local workers (`workers` > 1) are fresh processes that do not import your script, so a
    plain script whose top level calls `retain.sweep(...)` works; no `if __name__ ==
    "__main__":` guard is needed (the same holds for Ray).
    """
    _check_sweep_arguments(grid, out, executor, workers, ray_address, quiet)
    imports = _checked_imports(imports)
    log = (lambda message: None) if quiet else print
    if isinstance(grid, Mapping):
        _check_grid_mapping(grid)
        target = Path(out or grid.get("out") or ".")
        before = (target.exists(), (target / "grid.yaml").read_bytes() if (target / "grid.yaml").is_file() else None)
        grid_path = _save_grid(dict(grid), out)
        out = out or grid_path.parent
    else:
        grid_path, before = Path(grid), None
    try:
        summary = run_sweep(grid_path, out=out, executor=executor, workers=workers, ray_address=ray_address,
                            log=log, imports=imports or [])
    except ConfigError:
        if before is not None:  # refused before any cell: the grid.yaml saved here must not stay behind
            _restore(grid_path, *before)
        raise
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
    for depth, part in enumerate(path[:-1]):
        if node is tree and part == "method" and isinstance(node.get(part), str):
            node[part] = {"name": node[part]}  # method="lwf", method__lam=2
        elif node.get(part) is None:
            node[part] = {}
        elif not isinstance(node[part], dict):
            raise ConfigError(
                f"{'.'.join(path[:depth + 1])} is {node[part]!r}, not a mapping, so {'__'.join(path)}= cannot set a key "
                "in it; make it a mapping of settings.")
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


def _restore(grid_path: Path, folder_existed: bool, previous: bytes | None) -> None:
    """Put the sweep directory back as it was before `_save_grid` wrote grid_path."""
    if previous is not None:
        grid_path.write_bytes(previous)
        return
    grid_path.unlink(missing_ok=True)
    if not folder_existed and not any(grid_path.parent.iterdir()):
        grid_path.parent.rmdir()


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


# ---------------------------------------------------------------------- argument checks
# Each refuses before anything is written, naming the argument, its value and what is allowed.
def _check_type(name: str, value: Any, types: type | tuple[type, ...], allowed: str) -> None:
    if not isinstance(value, types):
        raise ConfigError(f"{name} = {value!r} is not allowed: {name} must be {allowed}.")


def _checked_imports(imports: Any) -> list[str]:
    """`imports` as a list of str; a single string (it would be read letter by letter) is refused."""
    if imports is None:
        return []
    if not isinstance(imports, (list, tuple)):
        hint = f" (for one, write imports=[{imports!r}])" if isinstance(imports, (str, os.PathLike)) else ""
        raise ConfigError(f"imports = {imports!r} is not allowed: imports must be a list of module names or .py paths, "
                          f"e.g. imports=['./lwf.py']{hint}.")
    for index, entry in enumerate(imports):
        _check_type(f"imports[{index}]", entry, (str, os.PathLike), "a module name or a .py path (a str or pathlib.Path)")
    return [str(entry) for entry in imports]


def _checked_preset(preset: Any) -> str | None:
    if preset is None:
        return None
    if not isinstance(preset, str):
        raise ConfigError(f"preset = {preset!r} is not allowed: preset must be a preset name, one of: "
                          f"{', '.join(preset_names())}.")
    load_preset(preset, field="the preset= argument")  # an unknown name is refused with the known ones
    return preset


def _with_preset(tree: dict[str, Any], source: ConfigSource, preset: str | None) -> dict[str, Any]:
    """The tree under `preset=`: the preset it names already (refused if another), else the preset put under it."""
    named = tree.get("preset")
    if preset is None or preset == named:
        return tree
    where = "the RetainConfig" if isinstance(source, RetainConfig) else "the config mapping" if isinstance(source, Mapping) \
        else f"config_or_path = {str(source)!r}"
    if named:
        raise ConfigError(
            f"{where} names preset: {named} and preset={preset!r} was given; a run has one preset. Drop preset= to run "
            f"{named}, or pass a config without a preset (or the name {preset!r} itself) to run {preset}.")
    if isinstance(source, RetainConfig):
        raise ConfigError(f"preset={preset!r} cannot be put under {where}, whose every setting is already resolved; "
                          f"call make_config({preset!r}, ...) with your settings as keyword arguments instead.")
    return merge_preset({key: value for key, value in tree.items() if key != "preset"}, preset)


def _check_overrides(overrides: dict[str, Any]) -> None:
    """A section given as something other than a mapping, or a setting given twice, is refused."""
    sections = [name for name, field in RetainConfig.model_fields.items()
                if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)]
    for key, value in overrides.items():
        if key in sections and not isinstance(value, (Mapping, RetainConfig.model_fields[key].annotation)):
            raise ConfigError(f"{key} = {value!r} is not allowed: {key} must be a mapping of {key} settings (or a "
                              f"config's own {key} section), e.g. {key}={{'<setting>': <value>}}, or set one setting "
                              f"with {key}__<setting>=<value>.")
    leaves = [(key, leaf) for key, value in overrides.items() for leaf in _leaf_paths(key.split("__"), value)]
    for index, (first, one) in enumerate(leaves):
        for second, other in leaves[index + 1:]:
            shorter = min(one, other, key=len)
            if first != second and one[:len(shorter)] == other[:len(shorter)]:
                raise ConfigError(f"{'.'.join(shorter)} is given twice: as {first}={overrides[first]!r} and as "
                                  f"{second}={overrides[second]!r}; give each setting once.")


def _check_moved_settings(source: ConfigSource, overrides: dict[str, Any]) -> None:
    """An old and a new spelling of one setting (memory.maer_policy, method.maer_policy) given
    together are refused, as on the command line."""
    user: dict[str, Any] = copy.deepcopy(dict(source)) if isinstance(source, Mapping) else {}
    for key, value in sorted(overrides.items(), key=lambda item: item[0].count("__")):  # sections before their keys
        _merge_at(user, key.split("__"), copy.deepcopy(value))
    check_not_given_twice(user)


def _leaf_paths(path: list[str], value: Any) -> list[tuple[str, ...]]:
    """The settings an override sets: {"train": {"epochs": 2}} sets train.epochs."""
    if path == ["method"] and isinstance(value, str):
        return [("method", "name")]
    if isinstance(value, Mapping) and ".".join(path) not in WHOLE_MAPPINGS:
        return [leaf for key, item in value.items() for leaf in _leaf_paths([*path, str(key)], item)]
    return [tuple(path)]


def _check_sweep_arguments(grid: Any, out: Any, executor: Any, workers: Any, ray_address: Any, quiet: Any) -> None:
    _check_type("grid", grid, (str, os.PathLike, Mapping),
                "the path of a grid file, the name of a shipped grid, or a mapping with `base` and `axes`")
    _check_type("out", out, (str, os.PathLike, type(None)), "a path (a str or pathlib.Path) or None")
    if executor is not None and executor not in ("local", "ray"):
        raise ConfigError(f"executor = {executor!r} is not allowed: retain.sweep's executor must be 'local', 'ray' "
                          "or None (the grid's own).")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ConfigError(f"workers = {workers!r} is not allowed: workers must be a whole number >= 1, or None (the grid's own).")
    _check_type("ray_address", ray_address, (str, type(None)), "a Ray address (a str, e.g. 'ray://host:10001') or None")
    _check_type("quiet", quiet, bool, "True or False")


def _check_grid_mapping(grid: Mapping[str, Any]) -> None:
    """What load_grid checks in a grid file, checked in the mapping before it is saved as grid.yaml."""
    try:
        parsed = GridFile.model_validate(dict(grid))
    except ValidationError as exc:
        message = validation_message(exc, GridFile)
        raise ConfigError(message.replace("Invalid configuration", "Invalid grid mapping passed to retain.sweep", 1)) from None
    check_axes(parsed, "the grid mapping passed to retain.sweep")
