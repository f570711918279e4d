"""Methods keep to their contract: they read the run's settings (`ctx.settings`) and their own
`Params`, never the whole config, and they configure the memory's policy through
`policy_options` and change the memory through its methods (`set_aside`), never by rewriting
another object's parts (DESIGN.md, "methods")."""

from __future__ import annotations

import ast
from pathlib import Path

import retain

ROOT = Path(retain.__file__).resolve().parent
METHOD_FILES = sorted((ROOT / "methods").glob("*.py")) + sorted((ROOT.parents[1] / "examples").rglob("*.py"))


def _dotted(node: ast.AST) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def _offences(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute) and _dotted(node.value).endswith("ctx.config"):
            found.append(f"{path.name}:{node.lineno} reads {_dotted(node)}")
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else []
        for target in targets:
            if any(part in _dotted(target) for part in (".policy", ".store", ".memory.")):
                found.append(f"{path.name}:{node.lineno} rewrites {_dotted(target)}")
    return found


def test_methods_read_settings_and_params_not_the_config():
    assert len(METHOD_FILES) > 20
    offences = [o for path in METHOD_FILES for o in _offences(path)]
    assert offences == []


def test_the_checker_sees_both_kinds_of_reach(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f(self):\n    x = self.ctx.config.train.lr\n    self.memory.policy = None\n    self.memory.policy.balanced = x\n"
                   "    method.memory.stream_capacity -= 1\n    self.memory = None\n")
    assert {o.split(" ", 1)[1] for o in _offences(bad)} == {
        "reads self.ctx.config.train", "rewrites self.memory.policy", "rewrites self.memory.policy.balanced",
        "rewrites method.memory.stream_capacity"}  # assigning its own memory is the method's business


def test_lucir_and_maer_configure_their_policy_at_construction():
    from retain.runs.config import build_config
    from retain.runs.loop import build_setup

    lucir = build_setup(build_config(preset="demo", overrides=["method.name=lucir", "method.herding=lucir"])).method
    assert (lucir.memory.policy.name, lucir.memory.policy.variant) == ("herding", "lucir")
    derpp = build_setup(build_config(preset="demo", overrides=["method.name=derpp", "memory.policy=maer"])).method
    assert derpp.memory.policy.balanced is False
