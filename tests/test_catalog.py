"""`retain list` without torch: the built-in catalogue (builtin_catalog.json) is the registries'
own entries, and plugins still appear once they are imported."""

import json
import os
import subprocess
import sys

from retain import catalog
from retain.methods import Method, get_method_class
from retain.methods import base

# Runs `retain list ARGS...` in a fresh interpreter and prints which heavy modules it imported.
_LIST = """
import json, sys
from retain.cli import main
try:
    main(["list", *sys.argv[1:]])
except SystemExit:
    pass
print(json.dumps({name: name in sys.modules for name in ("torch", "numpy", "retain.methods", "retain.data")}))
"""


def _list(*args, cwd=None):
    proc = subprocess.run([sys.executable, "-c", _LIST, *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "COLUMNS": "400", "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)})
    assert proc.returncode == 0, proc.stderr
    output, loaded = ("\n" + proc.stdout).rstrip().rsplit("\n", 1)
    return proc.stderr + output, json.loads(loaded)  # an error is printed on stderr


def test_the_torch_free_catalogue_is_what_the_registries_hold():
    """A built-in method, policy, backbone or dataset registered but missing from
    builtin_catalog.json (or listed there and no longer registered, or described differently) fails here."""
    expected = catalog.builtin_catalog()
    assert json.loads(catalog.BUILTIN_FILE.read_text()) == expected, \
        "builtin_catalog.json is out of date: run `python -m retain.catalog`"
    assert catalog.BUILTIN_FILE.read_text() == catalog.builtin_catalog_text()  # and in the registries' order
    assert "icarl" in expected["methods"] and "herding" in expected["policies"]
    assert "resnet32" in expected["backbones"] and "cifar100" in expected["datasets"]


def test_a_built_in_missing_from_the_catalogue_is_detected(monkeypatch):
    class Unlisted(Method):
        """A method defined in retain but not in builtin_catalog.json."""

    Unlisted.__module__ = "retain.methods.unlisted"
    registry = base._METHODS
    monkeypatch.setitem(registry._entries, "unlisted", Unlisted)
    monkeypatch.setitem(registry._definitions, "unlisted", Unlisted)
    assert get_method_class("unlisted") is Unlisted
    assert catalog.builtin_catalog()["methods"]["unlisted"] == "A method defined in retain but not in builtin_catalog.json."
    assert catalog.builtin_catalog_text() != catalog.BUILTIN_FILE.read_text()


def test_retain_list_imports_no_torch_and_shows_the_registries_entries():
    for args in [(), ("methods",), ("policies",), ("backbones",), ("datasets",), ("presets",), ("grids",),
                 ("presets", "cifar100-b0-inc10"), ("methods", "icarl"), ("methods", "icrl")]:
        output, loaded = _list(*args)
        assert loaded == {"torch": False, "numpy": False, "retain.methods": False, "retain.data": False}, args
    output, _ = _list("methods")
    for name, description in catalog.builtin_catalog()["methods"].items():
        assert name in output and " ".join(description.split())[:40] in " ".join(output.split()), name


def test_a_method_s_parameters_are_listed_without_torch_as_the_registry_gives_them():
    """`retain list methods NAME` from builtin_catalog.json shows what the method's Params hold."""
    live = {name: [vars(p) for p in catalog._registered_parameters(name)] for name in ("icarl", "mrdc", "maer_high")}
    for name, params in live.items():
        output, loaded = _list("methods", name)
        assert not loaded["torch"], name
        flat = " ".join(output.split())
        for param in params:
            assert f"method.{param['name']}" in flat and repr(param["default"]) in flat, (name, param)
            assert " ".join(param["help"].split())[:30] in flat, (name, param)
    output, _ = _list("methods", "icrl")
    assert "Did you mean 'icarl'" in output and "method.name" in output


def test_a_plugin_is_listed_beside_the_built_ins(tmp_path):
    (tmp_path / "my_plugin.py").write_text(
        "import retain\n\n\n@retain.register_method('my-method')\nclass Mine(retain.Method):\n"
        "    \"\"\"My own method, from a plugin file.\"\"\"\n")
    output, loaded = _list("methods", "--import", "my_plugin.py", cwd=tmp_path)
    assert loaded["retain.methods"]  # the plugin registered into the registry, which is listed
    assert "my-method" in output and "My own method, from a plugin file." in output
    assert "icarl" in output and "gdumb" in output
    output, _ = _list("methods", "my-method", "--import", "my_plugin.py", cwd=tmp_path)
    assert "My own method, from a plugin file." in output and "my-method has no parameters." in output


def test_a_plugin_without_a_docstring_is_not_described_by_the_class_it_extends(monkeypatch):
    from retain.methods.icarl import ICaRL

    class Undocumented(ICaRL):
        pass

    registry = base._METHODS
    monkeypatch.setitem(registry._entries, "undocumented", Undocumented)
    monkeypatch.setitem(registry._definitions, "undocumented", Undocumented)
    listed = dict(catalog.entries("methods"))
    assert listed["undocumented"] != listed["icarl"]
    assert "no description" in listed["undocumented"] and "Undocumented" in listed["undocumented"]
