"""The house stays layered: no room of src/retain imports a room above it, and no files import each other in a circle.

Every import statement counts — module level, inside functions and under `if TYPE_CHECKING:` —
because a lazy import is still a dependency. The allowed-rooms map below is the one
docs/internals.md ("The floors") explains; widen it there first, with a reason.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import retain

SRC = Path(retain.__file__).resolve().parent

# The ground floor: every room may read these; they read nothing above themselves.
GROUND = frozenset({"errors", "version", "config", "budget", "metrics", "registry", "devices", "jpeg", "files",
                    "console", "plugins", "presets"})
# The rooms on the first floor use only the ground floor (and not each other).
FIRST = frozenset({"data", "scenarios", "augment", "models", "memory"})
BELOW_RUNS = GROUND | FIRST | {"engine", "methods"}
# room -> the other rooms it may import.
ALLOWED: dict[str, frozenset[str]] = {
    "errors": frozenset(),
    "version": frozenset(),
    "jpeg": frozenset(),  # the one JPEG codec: the memory's JPEG rows and the encoded dataset cache decode alike
    "devices": frozenset(),  # to_device: torch only; the memory store and the engine both move tensors with it
    "files": frozenset(),  # whole-or-nothing writes: results, checkpoints, reports and memorization scores
    "console": frozenset(),  # what the terminal shows: every room that talks to the user prints through it
    "plugins": frozenset({"errors"}),  # loads users' modules; registration itself goes through the registries
    "presets": frozenset({"errors"}),  # the named presets and grids (YAML under scenarios/), read without torch
    "config": frozenset({"errors", "budget"}),  # the schema checks a budget's spelling with budget.units
    "budget": frozenset({"errors"}),  # arithmetic on sizes: it asks no registry and reads no config
    "metrics": frozenset({"errors"}),
    "registry": frozenset({"errors"}),
    **{room: GROUND for room in FIRST},
    "engine": GROUND | {"data", "scenarios", "augment", "models"},
    "methods": GROUND | FIRST | {"engine"},
    "tracking": GROUND,  # live sinks see the config and the numbers a run hands them, nothing of the run
    "catalog": BELOW_RUNS,  # `retain list`: the registries' contents, written to and read from builtin_catalog.json
    "runs": BELOW_RUNS | {"tracking"},
    "reports": BELOW_RUNS | {"runs"},  # reads run directories; the run gets its report writer from launch
    "launch": BELOW_RUNS | {"tracking", "runs", "reports"},  # one run, N processes or the AUC sweep
    "sweeps": BELOW_RUNS | {"tracking", "runs", "reports", "launch"},
    "cli": BELOW_RUNS | {"tracking", "catalog", "runs", "reports", "launch", "sweeps"},
    "api": BELOW_RUNS | {"tracking", "runs", "reports", "launch", "sweeps"},  # the Python facade: run, sweep, load_results
    "experiment": frozenset({"errors"}),  # round 2's import paths, forwarded by name (importlib) to the rooms above
    "__main__": frozenset({"cli"}),
    "retain": BELOW_RUNS | {"tracking", "catalog", "runs", "reports", "launch", "sweeps", "cli", "api"},  # the package's __init__
}


# ---------------------------------------------------------------------- the checker
def module_files(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file of the package at `root`."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _imported_names(module: str, path: Path, node: ast.Import | ast.ImportFrom, modules: dict[str, Path]) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:  # relative: resolve against the importing module's package
        package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        package = package[: len(package) - node.level + 1]
        base = ".".join(package + ([base] if base else []))
    # `from pkg import name` imports the submodule pkg.name when there is one, else pkg itself.
    return [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the modules of the same package it imports (every import statement, at any depth)."""
    modules = module_files(root)
    package = root.name
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            for name in _imported_names(module, path, node, modules):
                while name not in modules and "." in name:  # `import pkg.mod.attr` -> pkg.mod
                    name = name.rsplit(".", 1)[0]
                if name in modules and (name == package or name.startswith(package + ".")):
                    targets.add(name)
        targets.discard(module)
        graph[module] = targets
    return graph


def room_of(module: str) -> str:
    """`retain.memory.store` -> "memory"; the package's own __init__ -> its name."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def upward_imports(graph: dict[str, set[str]], allowed: dict[str, frozenset[str]]) -> list[str]:
    """Every import of a room that `allowed` does not give the importing room (and every unknown room)."""
    problems = []
    for module, targets in sorted(graph.items()):
        room = room_of(module)
        if room not in allowed:
            problems.append(f"{module}: room {room!r} is not in the allowed-rooms map")
            continue
        for target in sorted(targets):
            other = room_of(target)
            if other != room and other not in allowed[room]:
                problems.append(f"{module} imports {target}: {room} may not import {other}")
    return problems


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Groups of modules that import each other in a circle (strongly connected components > 1)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


# ---------------------------------------------------------------------- the house
def test_no_room_imports_a_room_above_it():
    assert upward_imports(import_graph(SRC), ALLOWED) == []


def test_no_files_import_each_other_in_a_circle():
    assert import_cycles(import_graph(SRC)) == []


def test_the_graph_sees_the_known_edges():
    # Guards the guard: a parser that missed imports would pass the two tests above vacuously.
    graph = import_graph(SRC)
    assert "retain.engine.batch" in graph["retain.methods.base"]           # module level
    assert "retain.engine.context" in graph["retain.methods.base"]         # under TYPE_CHECKING
    assert "retain.methods" in graph["retain.runs.config"]           # inside a function
    assert "retain.config" in graph["retain.engine.optim"]
    assert not any(room_of(t) == "methods" for m, ts in graph.items() if room_of(m) == "engine" for t in ts)


# ---------------------------------------------------------------------- the checker can fail
def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "pkg"


def test_checker_finds_upward_and_lazy_imports_in_a_fake_package(tmp_path):
    package = _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/low/__init__.py": "",
        "pkg/low/a.py": "def f():\n    from pkg.high import b  # lazy, still upward\n",
        "pkg/low/c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..high.b import B\n",
        "pkg/high/__init__.py": "",
        "pkg/high/b.py": "from pkg.low import a\nclass B: ...\n",
    })
    graph = import_graph(package)
    assert graph["pkg.low.a"] == {"pkg.high.b"} and graph["pkg.low.c"] == {"pkg.high.b"}
    allowed = {"low": frozenset(), "high": frozenset({"low"}), "pkg": frozenset()}
    assert upward_imports(graph, allowed) == [
        "pkg.low.a imports pkg.high.b: low may not import high",
        "pkg.low.c imports pkg.high.b: low may not import high",
    ]
    assert import_cycles(graph) == [["pkg.high.b", "pkg.low.a"]]
    assert upward_imports(graph, {"low": frozenset()})[0] == "pkg: room 'pkg' is not in the allowed-rooms map"


@pytest.mark.parametrize("edges, expected", [
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
    ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
    ({"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"c"}}, [["a", "b"], ["c", "d"]]),
])
def test_cycle_finder_on_small_graphs(edges, expected):
    assert sorted(import_cycles(edges)) == expected


def test_every_room_is_a_regular_package_and_no_source_file_is_ignored_by_git():
    """A folder of modules without its __init__.py still imports (as a namespace package), so
    nothing else notices one that .gitignore kept out of the commit (`runs/` once matched
    src/retain/runs/): every folder of .py files has its own, and git ignores no file of src/ or tests/."""
    import shutil
    import subprocess

    folders = {path.parent for path in SRC.rglob("*.py") if "__pycache__" not in path.parts}
    assert [str(f) for f in sorted(folders) if not (f / "__init__.py").is_file()] == []
    repo = SRC.parents[1]
    if shutil.which("git") is None or not (repo / ".git").exists():
        return  # an installed wheel: nothing of git to ask
    files = [str(p.relative_to(repo)) for root in ("src", "tests") for p in (repo / root).rglob("*.py")
             if "__pycache__" not in p.parts]
    ignored = subprocess.run(["git", "check-ignore", "--no-index", "--stdin"], input="\n".join(files), cwd=repo,
                             capture_output=True, text=True).stdout.split()
    assert ignored == []
