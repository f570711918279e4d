"""Round 2's import paths (`retain.experiment.*`, README's `retain.experiment.spec.resolve_run`)
keep working after the split into rooms, warn with the new name, and are the new modules
themselves, not copies."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from retain.experiment import MOVED, new_name


def _fresh_import(old: str) -> str:
    """Import `old` in a new interpreter; return what it printed (the warning, the module's identity)."""
    script = (
        "import warnings, importlib, sys\n"
        "warnings.simplefilter('always')\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        f"    old = importlib.import_module({old!r})\n"
        f"new = importlib.import_module({new_name(old)!r})\n"
        "print(old is new, old.__spec__.name, [str(w.message) for w in caught if w.category is DeprecationWarning])\n"
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


def test_every_former_module_maps_to_a_module_that_exists():
    for old, target in MOVED.items():
        assert importlib.util.find_spec(target) is not None, (old, target)


def test_the_readme_s_former_resolve_run_import_still_works():
    with pytest.warns(DeprecationWarning, match="retain.runs.spec"):
        sys.modules.pop("retain.experiment.spec", None)
        from retain.experiment.spec import resolve_run
    from retain.runs.spec import resolve_run as current

    assert resolve_run is current


def test_names_that_never_lived_there_are_not_found():
    assert new_name("retain.experiment.nothing_here") is None and new_name("retain.runs.loop") is None
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("retain.experiment.nothing_here")
