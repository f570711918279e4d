"""Loading user code: module names, .py files, the retain.plugins entry points, and the errors when that fails."""

from __future__ import annotations

import sys
import textwrap
from importlib import metadata

import pytest

from retain.errors import ConfigError
from retain import plugins
from retain.runs.config import build_config, validate_config
from retain.methods import get_method_class, method_names


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


METHOD_PLUGIN = """
    from retain import Method, register_method

    @register_method("{name}")
    class Plugged(Method):
        '''A fine-tuning twin from a plugin.'''
"""


def test_a_plugin_file_relative_to_the_config_file_registers_its_method(tmp_path, monkeypatch):
    _write(tmp_path / "cfg" / "my_method.py", METHOD_PLUGIN.format(name="plugged-from-file"))
    config_file = _write(tmp_path / "cfg" / "run.yaml", """
        imports: [./my_method.py]
        method: {name: plugged-from-file}
    """)
    monkeypatch.chdir(tmp_path)  # not the config's folder: the path is relative to the file
    config = build_config(config_file)
    assert config.imports == [str(tmp_path / "cfg" / "my_method.py")]  # absolute: workers find it
    assert get_method_class("plugged-from-file").__doc__.startswith("A fine-tuning twin")


def test_the_same_file_imported_twice_and_by_another_path_is_loaded_once(tmp_path, monkeypatch):
    path = _write(tmp_path / "twice.py", METHOD_PLUGIN.format(name="plugged-twice"))
    monkeypatch.chdir(tmp_path)
    first = plugins.import_plugin(str(path))
    again = plugins.import_plugin("./twice.py")
    assert first is again
    # Imported as a module as well (another module object, the same file): no "registered twice".
    monkeypatch.syspath_prepend(str(tmp_path))
    plugins.import_plugin("twice")
    assert "plugged-twice" in method_names()


def test_a_different_class_under_a_taken_name_is_a_config_error_naming_the_plugin(tmp_path):
    path = _write(tmp_path / "clash.py", METHOD_PLUGIN.format(name="finetune"))
    with pytest.raises(ConfigError, match=r"clash\.py.*failed to import: ValueError: method 'finetune' is already registered"):
        plugins.import_plugin(str(path))
    assert get_method_class("finetune").__module__ == "retain.methods.finetune"


def test_a_module_name_is_found_in_the_current_directory(tmp_path, monkeypatch):
    _write(tmp_path / "my_pkg" / "__init__.py", "")
    _write(tmp_path / "my_pkg" / "plugged.py", METHOD_PLUGIN.format(name="plugged-module"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    config = validate_config({"imports": ["my_pkg.plugged"], "method": {"name": "plugged-module"}})
    assert config.imports == ["my_pkg.plugged"]


@pytest.mark.parametrize(
    ("entry", "needles"),
    [
        ("no_such_plugin_module", ["'no_such_plugin_module'", "was not found", "PYTHONPATH"]),
        ("./missing_plugin.py", ["missing_plugin.py", "does not exist"]),
        ("not a module!", ["'not a module!'", "neither a module name"]),
    ],
)
def test_an_import_that_cannot_be_found_is_a_config_error_naming_it(tmp_path, monkeypatch, entry, needles):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as error:
        validate_config({"imports": [entry]})
    for needle in needles:
        assert needle in str(error.value)


def test_a_plugin_that_raises_is_reported_with_its_file_and_line(tmp_path):
    path = _write(tmp_path / "broken.py", """
        import math

        value = math.sqrt(-1)
    """)
    with pytest.raises(ConfigError, match=r"broken\.py'.*failed to import: ValueError: math domain error \(at .*broken\.py:4\)"):
        plugins.import_plugin(str(path))
    # The failed module is not left half-registered: the next attempt fails the same way.
    with pytest.raises(ConfigError, match="math domain error"):
        plugins.import_plugin(str(path))


def test_imports_must_be_a_list_of_strings():
    with pytest.raises(ConfigError, match="imports"):
        validate_config({"imports": "my_pkg.lwf"})


# ---------------------------------------------------------------------- entry points
def _fake_distribution(site, name, group_lines):
    """A distribution as pip leaves it: <name>-0.1.dist-info with METADATA and entry_points.txt."""
    info = site / f"{name}-0.1.dist-info"
    _write(info / "METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    _write(info / "entry_points.txt", "[retain.plugins]\n" + "\n".join(group_lines) + "\n")


def test_entry_points_of_installed_packages_are_loaded_once(tmp_path, monkeypatch):
    site = tmp_path / "site"
    _write(site / "ep_plugin_module.py", METHOD_PLUGIN.format(name="plugged-entry-point"))
    _write(site / "ep_plugin_function.py", """
        CALLS = []

        def register():
            CALLS.append(1)
    """)
    _fake_distribution(site, "fake_retain_plugin", ["module = ep_plugin_module", "function = ep_plugin_function:register"])
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(plugins, "_entry_points_loaded", False)
    assert any(ep.value == "ep_plugin_module" for ep in metadata.entry_points(group=plugins.ENTRY_POINT_GROUP))
    validate_config({"method": {"name": "plugged-entry-point"}})  # no imports: the entry point did it
    validate_config({})
    import ep_plugin_function

    assert ep_plugin_function.CALLS == [1]  # a function entry point is called, once per process


def test_a_broken_entry_point_names_the_distribution(tmp_path, monkeypatch):
    site = tmp_path / "site"
    _write(site / "ep_broken.py", "raise RuntimeError('no GPU driver here')\n")
    _fake_distribution(site, "broken_retain_plugin", ["broken = ep_broken"])
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(plugins, "_entry_points_loaded", False)
    with pytest.raises(ConfigError, match=r"Entry point 'broken' = 'ep_broken'.*broken_retain_plugin.*RuntimeError: no GPU driver here.*pip uninstall"):
        validate_config({})
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(site)])
    validate_config({})  # once the package is gone, configs build again


def test_sweep_cells_carry_the_plugins_to_their_workers(tmp_path, monkeypatch):
    from retain.sweeps.sweep import expand_cells, load_grid

    plugin = _write(tmp_path / "plugins" / "cell_method.py", METHOD_PLUGIN.format(name="plugged-cell"))
    extra = _write(tmp_path / "extra.py", "")
    grid_path = _write(tmp_path / "grids" / "grid.yaml", """
        base: {preset: demo, imports: [../plugins/cell_method.py]}
        axes: {method: [plugged-cell, finetune]}
    """)
    monkeypatch.chdir(tmp_path)  # --import paths are relative to the current directory
    cells = expand_cells(load_grid(grid_path), grid_path, tmp_path / "sweep", imports=["./extra.py"])
    for cell in cells:  # what run_cell validates again in the worker process
        assert cell.config["imports"] == [str(plugin), str(extra)]
    assert [cell.config["method"]["name"] for cell in cells] == ["plugged-cell", "finetune"]


def test_an_installed_copy_of_a_plugin_file_is_the_same_definition_but_an_edited_copy_is_not(tmp_path):
    # `lwf.yaml` imports ./lwf.py while the entry point of `pip install ./examples` imported the
    # installed copy: same class, same source, so no clash. A copy that differs is another class.
    source = METHOD_PLUGIN.format(name="plugged-copied")
    plugins.import_plugin(str(_write(tmp_path / "work" / "copied.py", source)))
    plugins.import_plugin(str(_write(tmp_path / "site-packages" / "copied.py", source)))
    edited = source.replace("A fine-tuning twin", "Another class")
    with pytest.raises(ConfigError, match="method 'plugged-copied' is already registered"):
        plugins.import_plugin(str(_write(tmp_path / "elsewhere" / "copied.py", edited)))
