"""Loading user code: `imports:` in a config, `--import` on the command line, `retain.plugins` entry points.

A plugin is a Python module that registers methods, memory policies, backbones or datasets
when it is imported (`@retain.register_method("lwf")`, ...). It is named either as a module
(`my_pkg.lwf`, found on `sys.path` or in the current directory) or as a file (`./lwf.py`, a
path ending in `.py`). Installed packages can declare modules in the `retain.plugins`
entry-point group; those are loaded in every process that builds a config.

The list travels with the config (`imports` is a config key, file paths made absolute), so
sweep workers, Ray tasks and `retain run --resume` load the same plugins as the run that
started it.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import re
import sys
import traceback
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

from retain.errors import ConfigError

ENTRY_POINT_GROUP = "retain.plugins"
_MODULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_entry_points_loaded = False


def is_file_import(entry: str) -> bool:
    """True when an `imports` entry names a file (`./lwf.py`, `/abs/lwf.py`) rather than a module."""
    return entry.endswith(".py") or "/" in entry or os.sep in entry


def anchor_imports(imports: Any, base_dir: str | Path) -> Any:
    """`imports` with every relative file path made absolute against `base_dir` (module names unchanged).

    A path in a config file is relative to that file; on the command line, to the current
    directory. Anything that is not a list of strings is returned as is for the schema to refuse.
    """
    if not isinstance(imports, list):
        return imports
    anchored = []
    for entry in imports:
        if isinstance(entry, str) and is_file_import(entry):
            path = Path(entry).expanduser()
            entry = str(path if path.is_absolute() else (Path(base_dir) / path).resolve())
        anchored.append(entry)
    return anchored


def load_plugins(imports: Iterable[str] = ()) -> None:
    """Load the installed `retain.plugins` entry points (once per process), then every entry of `imports`."""
    load_entry_points()
    for entry in imports:
        import_plugin(entry)


def import_plugin(entry: str) -> ModuleType:
    """Import one plugin (a module name or a .py file); a ConfigError names it when that fails."""
    if not isinstance(entry, str) or not entry.strip():
        raise ConfigError(f"imports entry {entry!r} is not allowed; give a module name (my_pkg.lwf) or a .py file path.")
    if is_file_import(entry):
        return _import_file(Path(entry).expanduser())
    if not _MODULE_NAME.match(entry):
        raise ConfigError(
            f"imports entry {entry!r} is neither a module name (dotted identifiers, e.g. my_pkg.lwf) nor a path "
            "to a .py file (e.g. ./lwf.py)."
        )
    # Like `python -m`, look in the current directory too (the `retain` script does not put it on sys.path).
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.append(cwd)
    try:
        return importlib.import_module(entry)
    except ModuleNotFoundError as error:
        if error.name and (entry == error.name or entry.startswith(error.name + ".")):
            raise ConfigError(
                f"Plugin module {entry!r} (imports / --import) was not found: no module named {error.name!r}. "
                f"Install its package, add its folder to PYTHONPATH, run from the folder that holds it, or give "
                "the path of the .py file instead."
            ) from None
        raise _failed(f"Plugin module {entry!r} (imports / --import)", error) from None
    except Exception as error:
        raise _failed(f"Plugin module {entry!r} (imports / --import)", error) from None


def _import_file(path: Path) -> ModuleType:
    path = path if path.is_absolute() else path.resolve()
    if path.is_dir():
        raise ConfigError(f"Plugin file {str(path)!r} (imports / --import) is a directory; give the path of a .py file "
                          f"in it, or the dotted name of a package that Python can import.")
    if not path.is_file():
        raise ConfigError(f"Plugin file {str(path)!r} (imports / --import) does not exist; give the path of a .py file.")
    # One module per file, whatever path spelled it: importing it twice would register its names twice.
    name = f"retain_plugin_{re.sub(r'[^0-9A-Za-z_]', '_', path.stem)}_{hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:8]}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"Plugin file {str(path)!r} (imports / --import) cannot be imported as a Python module.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    # Its neighbours are importable from it, as from a script.
    if str(path.parent) not in sys.path:
        sys.path.append(str(path.parent))
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        del sys.modules[name]
        raise _failed(f"Plugin file {str(path)!r} (imports / --import)", error) from None
    return module


def load_entry_points() -> None:
    """Import every module declared in the `retain.plugins` entry-point group of the installed packages.

    An entry point names a module (`lwf = my_pkg.lwf`), or a function (`my_pkg:register`)
    that is called with no arguments. Done once per process.
    """
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        distribution = getattr(getattr(entry_point, "dist", None), "name", None) or "an installed package"
        where = f"Entry point {entry_point.name!r} = {entry_point.value!r} (group {ENTRY_POINT_GROUP!r}) of {distribution}"
        try:
            loaded = entry_point.load()
            if callable(loaded) and not isinstance(loaded, ModuleType):
                loaded()
        except Exception as error:
            _entry_points_loaded = False  # a later call reports it again instead of running without it
            raise _failed(where, error, hint=f" Fix or uninstall {distribution} (pip uninstall).") from None


def _failed(what: str, error: BaseException, hint: str = "") -> ConfigError:
    """A ConfigError naming the plugin, the error and the lines of the plugin where it happened."""
    frames = user_frames(error)
    place = f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""
    shown = f" Your code's traceback:\n{format_frames(frames)}" if frames else ""
    return ConfigError(f"{what} failed to import: {type(error).__name__}: {error}{place}.{hint}{shown}")


def _library_dirs() -> tuple[str, ...]:
    import sysconfig

    paths = {sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")}
    package = Path(__file__).resolve().parent  # src/retain
    return tuple(sorted({str(Path(p).resolve()) for p in paths} | {str(package)}))


def user_frames(error: BaseException) -> list[traceback.FrameSummary]:
    """The frames of an exception's traceback in the user's own files (not retain's, the standard
    library's or an installed package's)."""
    libraries = _library_dirs()
    frames = traceback.extract_tb(error.__traceback__)
    return [f for f in frames if not f.filename.startswith("<")
            and not str(Path(f.filename).resolve()).startswith(libraries)]


def format_frames(frames: list[traceback.FrameSummary]) -> str:
    """Frames as Python prints them (file, line, function, source line)."""
    return "".join(traceback.format_list(frames)).rstrip()


def user_code_failure(error: BaseException, owner: str, during: str, after: str) -> str | None:
    """One paragraph for an exception raised in a user's plugin code, naming the plugin file and
    function and showing the user's own frames; None when no frame is the user's (a retain bug)."""
    frames = user_frames(error)
    if not frames:
        return None
    entry = frames[0]
    return (f"{owner} failed: {type(error).__name__}: {error} -- raised in {entry.name}() of the plugin file "
            f"{entry.filename} (line {frames[-1].lineno}{' in ' + frames[-1].name + '()' if len(frames) > 1 else ''}), "
            f"{during}. {after}\nYour code's traceback (retain's frames left out):\n{format_frames(frames)}")
