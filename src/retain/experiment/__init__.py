"""The former home of the run, sweep, report and tracking code, kept as a door for old imports.

`import retain.experiment.spec` (and every other module that lived here) still works and warns
with the module's new name; the map is docs/internals.md "Where each part lives". The old
modules are the new ones (not copies), so a monkeypatch or an isinstance check through an old
name acts on the code that runs.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings
from types import ModuleType

from retain.errors import RetainDeprecationWarning

MOVED = {
    "auc_sweep": "retain.runs.budget_points",
    "budgeting": "retain.runs.budgeting",
    "catalog": "retain.catalog",
    "checkpoint": "retain.runs.checkpoint",
    "config": "retain.runs.config",
    "console": "retain.console",
    "dataset_settings": "retain.runs.dataset_settings",
    "launch": "retain.launch",
    "launcher": "retain.runs.processes",
    "memorization": "retain.methods.memorization_scores",
    "plugins": "retain.plugins",
    "presets": "retain.presets",
    "report": "retain.reports.report",
    "report_cells": "retain.reports.cells",
    "results": "retain.runs.results",
    "results_config": "retain.runs.results_config",
    "run": "retain.runs.loop",
    "rundir": "retain.runs.directory",
    "spec": "retain.runs.spec",
    "sweep": "retain.sweeps.sweep",
    "time_forecast": "retain.runs.time_forecast",
    "tracking": "retain.tracking",
    "user_data": "retain.runs.user_data",
    "workers": "retain.sweeps.workers",
}


def new_name(old: str) -> str | None:
    """`retain.experiment.tracking.sink` -> `retain.tracking.sink`; None for a name that never lived here."""
    prefix = __name__ + "."
    if not old.startswith(prefix):
        return None
    first, _, rest = old[len(prefix):].partition(".")
    return None if first not in MOVED else MOVED[first] + (f".{rest}" if rest else "")


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds `retain.experiment.X` and hands back the module X moved to, with a warning."""

    def find_spec(self, fullname, path=None, target=None):  # noqa: D102 (the finder protocol)
        target = new_name(fullname)
        if target is None:
            return None
        # The moved module's file as origin: `python -m` sets __file__ from it.
        return importlib.util.spec_from_loader(fullname, self, origin=importlib.util.find_spec(target).origin)

    def create_module(self, spec):  # noqa: D102
        target = new_name(spec.name)
        warnings.warn(f"{spec.name} moved to {target} (docs/internals.md); the old name will go in a later release.",
                      RetainDeprecationWarning, stacklevel=2)
        module = importlib.import_module(target)
        self._own_specs[target] = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:  # noqa: D102
        # The import system stamped the alias's spec on the module: give it back its own.
        module.__spec__ = self._own_specs[module.__name__]

    def __init__(self) -> None:
        self._own_specs: dict[str, object] = {}

    # `python -m retain.experiment.catalog` asks the loader for the code to run as __main__.
    def get_code(self, fullname: str):  # noqa: D102
        target = new_name(fullname)
        warnings.warn(f"python -m {fullname}: the module moved; run python -m {target}", RetainDeprecationWarning, stacklevel=2)
        return importlib.util.find_spec(target).loader.get_code(target)

    def is_package(self, fullname: str) -> bool:  # noqa: D102
        return importlib.util.find_spec(new_name(fullname)).submodule_search_locations is not None


if not any(isinstance(finder, _MovedModules) for finder in sys.meta_path):
    sys.meta_path.insert(0, _MovedModules())
