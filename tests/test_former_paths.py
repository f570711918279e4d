"""Round 2's import paths (`retain.experiment.*`, README's `retain.experiment.spec.resolve_run`)
keep working after the split into rooms, warn with the new name, and are the new modules
themselves, not copies."""

from __future__ import annotations

import importlib
import importlib.util
import json
import subprocess
import warnings
from pathlib import Path
import sys

import pytest

from retain.errors import RetainDeprecationWarning
from retain.experiment import MOVED, _MovedModules, new_name


def _fresh_import(old: str) -> str:
    """Import `old` in a new interpreter; return what it printed (the warning, the module's identity)."""
    script = (
        "import warnings, importlib, sys\n"
        "# default warning filters: a user's script sees the warning without asking for it\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        f"    old = importlib.import_module({old!r})\n"
        f"new = importlib.import_module({new_name(old)!r})\n"
        "print(old is new, old.__spec__.name, [str(w.message) for w in caught if w.category.__name__ == 'RetainDeprecationWarning'])\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


@pytest.mark.parametrize("old", ["retain.experiment.spec", "retain.experiment.tracking.wandb_sink"])
def test_a_former_module_is_the_new_one_and_warns_with_its_new_name(old):
    printed = _fresh_import(old)
    target = new_name(old)
    assert printed.startswith(f"True {target} "), printed  # the same module, keeping its own spec
    assert f"{old} moved to {target}" in printed


# Every public name each module of retain/experiment/ defined in round 2 (read from its files then).
ROUND2_NAMES = json.loads((Path(__file__).parent / "round2_experiment_names.json").read_text())


def test_the_door_knows_every_module_that_lived_there():
    assert sorted({name.split(".")[2] for name in ROUND2_NAMES}) == sorted(MOVED)


@pytest.mark.parametrize("old", sorted(ROUND2_NAMES))
def test_a_former_module_still_offers_every_name_it_defined(old):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RetainDeprecationWarning)
        module = importlib.import_module(old)
    assert module is importlib.import_module(new_name(old))
    assert [name for name in ROUND2_NAMES[old] if not hasattr(module, name)] == []


def test_python_dash_m_with_a_former_name_runs_the_moved_module():
    door = next(finder for finder in sys.meta_path if isinstance(finder, _MovedModules))
    spec = door.find_spec("retain.experiment.catalog")  # as runpy asks, imported or not
    assert Path(spec.origin).name == "catalog.py"  # __file__ of the module run as __main__
    with pytest.warns(RetainDeprecationWarning, match="python -m retain.catalog"):
        code = spec.loader.get_code("retain.experiment.catalog")
    assert Path(code.co_filename).resolve() == Path(importlib.util.find_spec("retain.catalog").origin).resolve()
    assert not spec.loader.is_package("retain.experiment.catalog") and spec.loader.is_package("retain.experiment.tracking")


def test_the_readme_s_former_resolve_run_import_still_works():
    with pytest.warns(RetainDeprecationWarning, match="retain.runs.spec"):
        sys.modules.pop("retain.experiment.spec", None)
        from retain.experiment.spec import resolve_run
    from retain.runs.spec import resolve_run as current

    assert resolve_run is current


def test_names_that_never_lived_there_are_not_found():
    assert new_name("retain.experiment.nothing_here") is None and new_name("retain.runs.loop") is None
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("retain.experiment.nothing_here")
