"""The ledger is part of the method contract for users' methods too (issue 26): state a plugin
keeps but declares in no ledger item is charged (and refused over the budget), declared items
are charged as declared, and memory.charge_teacher charges any method's `teacher`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from retain.errors import BudgetError
from retain.runs.config import build_config
from retain.runs.loop import run
from retain.methods.base import Method, register_method

MEANS = torch.zeros(10, 128)  # 5,120 bytes of "class means"
SMALL = ["scenario.num_tasks=2", "train.epochs=1", "logging.tensorboard=false", "logging.report=false"]
LWF = Path(__file__).resolve().parents[2] / "examples" / "retain_examples" / "lwf.py"


@register_method("test-silent-means")
class SilentMeans(Method):
    """Keeps class means after each task and declares nothing (what the issue's plugin did)."""

    def after_task(self, task) -> None:
        super().after_task(task)
        self.means = MEANS.clone()

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "means": getattr(self, "means", None)}


@register_method("test-declared-means")
class DeclaredMeans(SilentMeans):
    """The same state, declared as a ledger item."""

    def ledger_items(self) -> dict[str, int]:
        return {"class means": MEANS.numel() * 4} if hasattr(self, "means") else {}


def _run(tmp_path, name, *overrides):
    config = build_config(preset="demo", overrides=[*SMALL, f"method.name={name}", *overrides])
    return run(config, out=tmp_path / name)


def test_undeclared_state_of_a_plugin_is_charged(tmp_path):
    results = _run(tmp_path, "test-silent-means", "memory.budget=200 images")
    assert results["ledger"][-1]["items"] == {"undeclared state (means)": 5120}


def test_undeclared_state_over_the_budget_is_refused(tmp_path):
    with pytest.raises(BudgetError, match=r"undeclared state \(means\)=5,120"):
        _run(tmp_path, "test-silent-means", "memory.budget=1 images")


def test_declared_state_is_charged_as_declared(tmp_path):
    results = _run(tmp_path, "test-declared-means", "memory.budget=200 images")
    assert results["ledger"][-1]["items"] == {"class means": 5120}


def test_charge_teacher_charges_a_plugins_teacher(tmp_path):
    imports = f"imports=[{LWF}]"
    charged = _run(tmp_path, "lwf", imports, "memory.budget=2 MiB", "memory.charge_teacher=true")
    teacher = charged["ledger"][-1]["items"]["teacher"]
    config = build_config(preset="demo", overrides=[*SMALL, "method.name=lwf", imports])
    assert teacher > 0 and teacher == 4 * sum(p.numel() for p in _network_after_two_tasks(config).parameters())
    assert "ledger" not in _run(tmp_path / "free", "lwf", imports, "memory.budget=2 MiB")  # not charged: no ledger


def _network_after_two_tasks(config):
    """The teacher of task 2 is the network after task 1: same backbone, a head of task 1's classes."""
    from retain.runs.loop import build_setup

    setup = build_setup(config)
    setup.method.before_task(setup.plan.tasks[0])
    return setup.method.network


@pytest.mark.parametrize("method", ["bic", "wa"])
def test_charge_teacher_charges_every_built_in_teacher(tmp_path, method):
    # BiC and WA keep a teacher but charged none (only iCaRL and LUCIR did); the exemplars make room for it.
    results = _run(tmp_path, method, "memory.budget=2000 images", "memory.charge_teacher=true")
    last = results["ledger"][-1]
    assert last["items"]["teacher"] > 0 and last["total_bytes"] <= last["budget_bytes"]
    free = _run(tmp_path / "free", method, "memory.budget=2000 images")
    assert "teacher" not in free["ledger"][-1]["items"]



def test_every_built_in_state_declaration_gives_its_reason():
    """Charged entries name ledger items; free ones say why (each built-in's declarations are checked
    against its state after real tasks in tests/methods/test_method_state.py)."""
    from retain.methods import get_method_class, method_names
    from retain.methods.charges import state_declarations

    for name in method_names():
        charged, free = state_declarations(get_method_class(name))
        assert all(items and all(isinstance(i, str) for i in items) for items in charged.values()), name
        assert all(len(reason) > 30 for reason in free.values()), (name, free)
    assert "penalty" in state_declarations(get_method_class("ewc"))[1]
    assert state_declarations(get_method_class("icarl"))[0]["memory"][0] == "exemplars"


def test_a_built_in_keeping_an_undeclared_tensor_is_charged_and_refused_over_the_budget(tmp_path, monkeypatch):
    """A built-in method given one more tensor of state that it declares nowhere (as a change to
    retain could add) is charged for it: exemplars fill the budget, so the run is refused."""
    from retain.methods.ewc import EWC

    after_task = EWC.after_task

    def keeping_more(self, task):
        after_task(self, task)
        self.extra_statistic = torch.zeros(100)  # 400 bytes

    monkeypatch.setattr(EWC, "after_task", keeping_more)
    monkeypatch.setattr(EWC, "persist", ("extra_statistic",), raising=False)
    with pytest.raises(BudgetError, match=r"undeclared state \(extra_statistic\)=400"):
        _run(tmp_path, "ewc", "memory.budget=100 images")
    monkeypatch.setattr(EWC, "free_state", {"extra_statistic": "declared free for this test, with its reason"}, raising=False)
    results = _run(tmp_path / "declared", "ewc", "memory.budget=100 images")
    assert not any(item.startswith("undeclared") for item in results["ledger"][-1]["items"])
