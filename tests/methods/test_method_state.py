"""A method's checkpoint holds all of its state (issue 28, item 7).

A field that `state_dict` forgets does not always change the accuracy matrix of a short test run, so
comparing matrices after a resume would miss it. Here every registered method (and the example
plugin) is run on the digits demo with a task checkpoint and an epoch checkpoint; at each save the
method's whole object graph is fingerprinted (every attribute, recursively: tensors bit for bit,
modules' parameters, buffers and train/frozen flags, generators, numpy arrays, sets, plain values).
A fresh method built from the same config and given the saved state must have the same fingerprint,
except for the attributes the method declares `transient` (caches rebuilt on use).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from retain.data import load_configured_dataset
from retain.runs import checkpoint as checkpoint_module
from retain.runs.config import build_config
from retain.runs.loop import build_setup, run
from retain.methods import get_method_class, method_names
from retain.methods.charges import undeclared_state

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

# What a method needs on the digits demo (MLP backbone) to keep state in every task.
SETTINGS: dict[str, list[str]] = {
    "memo": ["model.backbone=convnet2", "model.options={}"],
    "mrdc": ["memory.codec=jpeg", "memory.quality=50"],
    "joint": ["method.training=cumulative"],
}
# Objects that belong to the run, not to the method: the same in the fresh setup by construction.
# The run context is skipped wherever an object holds it; the others on the method itself only.
SHARED = ("ctx", "params", "log")


def fingerprint(value: Any, path: str = "", seen: set[int] | None = None, out: dict[str, Any] | None = None) -> dict[str, Any]:
    """Flatten an object graph into {path: comparable leaf}; shared run objects are skipped."""
    seen = set() if seen is None else seen
    out = {} if out is None else out
    if isinstance(value, torch.Tensor):
        t = value.detach().cpu()
        out[path] = (str(t.dtype), tuple(t.shape), t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"",
                     value.requires_grad)
        return out
    if isinstance(value, np.ndarray):
        out[path] = (str(value.dtype), value.shape, value.tobytes())
        return out
    if isinstance(value, (str, int, float, bool, type(None), bytes)):
        out[path] = (type(value).__name__, value)  # 2.0 is not 2, 1 is not True
        return out
    if isinstance(value, torch.Generator):
        out[path] = bytes(value.get_state().numpy())
        return out
    if isinstance(value, (torch.device, torch.dtype, type)) or callable(value) and not hasattr(value, "__dict__"):
        return out
    if id(value) in seen:
        return out
    seen.add(id(value))
    if isinstance(value, torch.nn.Module):
        out[path + ".training"] = [m.training for m in value.modules()]
        for name, tensor in value.state_dict(keep_vars=True).items():
            fingerprint(tensor, f"{path}.{name}", seen, out)
        # A module's plain attributes (a head's size, BiC's ranges, a frozen trunk's flag) are state too.
        for module_name, module in value.named_modules():
            for name, item in vars(module).items():
                if not name.startswith("_"):
                    fingerprint(item, f"{path}.{module_name}:{name}", seen, out)
        return out
    if isinstance(value, dict):
        out[path + ".keys"] = sorted(map(repr, value))
        for key, item in value.items():
            fingerprint(item, f"{path}[{key!r}]", seen, out)
        return out
    if isinstance(value, (list, tuple)):
        out[path + ".len"] = (type(value).__name__, len(value))
        for i, item in enumerate(value):
            fingerprint(item, f"{path}[{i}]", seen, out)
        return out
    if isinstance(value, (set, frozenset)):
        out[path] = sorted(map(repr, value))
        return out
    view = getattr(value, "state_view", None)  # containers with spare capacity show their rows in use
    attributes = view() if callable(view) else getattr(value, "__dict__", None)
    if attributes is None:
        out[path] = repr(value)
        return out
    skip = (set(SHARED) if path == "method" else {"ctx"}) | transient_attributes(type(value))
    for name, item in attributes.items():
        if name not in skip:
            fingerprint(item, f"{path}.{name}", seen, out)
    return out


def transient_attributes(cls: type) -> set[str]:
    """The attributes a class and its bases declare `transient` (rebuilt before use, not state)."""
    return {name for base in cls.__mro__ for name in vars(base).get("transient", ())}


def _method_cases() -> list:
    # The methods retain ships (other tests register methods of their own in this process) and the example plugin.
    builtin = [name for name in method_names() if get_method_class(name).__module__.startswith("retain.methods.")]
    return [*builtin, "plugin:lwf"]


def _config(method: str, tmp_path: Path):
    settings = ["train.epochs=2", "scenario.num_tasks=2", "checkpoint.every_epochs=1",
                "logging.report=false", "logging.tensorboard=false"]
    if method.startswith("plugin:"):
        settings += [f"imports=[{EXAMPLES / 'retain_examples' / 'lwf.py'}]", "method.name=lwf"]
    else:
        settings += [f"method.name={method}"] + SETTINGS.get(method, [])
        if get_method_class(method).uses_memory:
            settings.append("memory.budget=100 images")
    return build_config(preset="demo", overrides=settings, seed=2)


def _saved_states(monkeypatch) -> list[tuple[dict, dict[str, Any], int | None]]:
    """Every checkpoint payload of the run with the fingerprint of the live method when it was made
    (and, in `undeclared`, what the ledger's scan found undeclared in the method's state then)."""
    saved: list = []
    undeclared.clear()
    original = checkpoint_module.Checkpointer._payload

    def recording(self, kind, method, ctx, progress, **extra):
        payload = original(self, kind, method, ctx, progress, **extra)
        # Through bytes and back as the resume reads it (weights_only): a copy, since state_dict
        # shares the live tensors, and a check that every declared value survives the safe loader.
        buffer = io.BytesIO()
        torch.save(payload, buffer)
        buffer.seek(0)
        copied = torch.load(buffer, weights_only=True, map_location="cpu")
        saved.append((copied, fingerprint(method, "method"), progress.completed_tasks))
        undeclared.append((type(method).__name__, progress.completed_tasks, undeclared_state(method)))
        return payload

    monkeypatch.setattr(checkpoint_module.Checkpointer, "_payload", recording)
    return saved


# (method class, completed tasks, undeclared_state) at each checkpoint of the last run.
undeclared: list = []


def differences(expected: dict[str, Any], found: dict[str, Any]) -> list[str]:
    keys = sorted(set(expected) | set(found))
    return [k for k in keys if expected.get(k, "<missing>") != found.get(k, "<missing>")]


@pytest.fixture(autouse=True)
def dataset_loaded_once(monkeypatch):
    """Each checkpoint is loaded into a freshly built method; the digits are parsed once."""
    import retain.runs.loop as run_module

    def cached(data, after=None, **options):
        key = repr((data, options))
        if key not in _LOADED:
            _LOADED[key] = load_configured_dataset(data, **options)
        return _LOADED[key]

    monkeypatch.setattr(run_module, "load_user_dataset", cached)


_LOADED: dict = {}


@pytest.mark.parametrize("method", _method_cases())
def test_a_fresh_method_given_the_saved_state_equals_the_method_that_saved_it(method, tmp_path, monkeypatch):
    config = _config(method, tmp_path)
    saved = _saved_states(monkeypatch)
    run(config, out=tmp_path / "run")
    # The checkpoints of task 2 (its epoch checkpoint and the boundaries around it): each method
    # holds all of its kinds of state by then (memory, teacher, statistics, old classes).
    checked = [(p, e, c) for p, e, c in saved if (p["kind"], c) in {("task", 1), ("epoch", 1), ("task", 2)}]
    # Every tensor the method keeps is charged or declared free (methods/charges.py), so the ledger's
    # scan for undeclared state finds nothing in a built-in method or the example plugin.
    assert all(found == (0, []) for _, _, found in undeclared), [u for u in undeclared if u[2] != (0, [])]
    assert [p["kind"] for p, _, _ in checked] == ["task", "epoch", "epoch", "task"], [(p["kind"], c) for p, _, c in saved]
    for payload, expected, completed in checked:
        fresh = build_setup(config)
        if payload["kind"] == "epoch":  # saved inside task `completed`: the run had called before_task on it
            before = _task_state_before(saved, completed)
            if before is not None:
                fresh.method.load_state_dict(before)
            fresh.method.before_task(fresh.plan.tasks[completed])
        fresh.method.load_state_dict(payload["method"])
        found = fingerprint(fresh.method, "method")
        wrong = differences(expected, found)
        assert not wrong, (
            f"{method}: after load_state_dict of the {payload['kind']} checkpoint (completed tasks {completed}) these "
            f"attributes differ from the method that saved it (missing from state_dict, or not restored): {wrong[:12]}")


def _task_state_before(saved, completed: int) -> dict:
    """The method state of the task checkpoint that ends task `completed` (a fresh method for task 1)."""
    for payload, _, done in saved:
        if payload["kind"] == "task" and done == completed:
            return payload["method"]
    return None


class _Holder:
    def __init__(self, **values) -> None:
        self.__dict__.update(values)


def test_declared_values_survive_the_safe_loader_and_come_back_as_copies_on_the_device():
    from retain.methods.state import restore_attributes, save_attributes

    names = ("mean", "rows", "by_class", "seen", "count", "tensor")
    owner = _Holder(mean=np.float64(0.25), rows=[np.arange(3), np.arange(2)], by_class={1: torch.ones(2)},
                    seen={3, 1}, count=np.int64(7), tensor=torch.zeros(2))
    buffer = io.BytesIO()
    torch.save(save_attributes(owner, names), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    fresh = _Holder(mean=0.0, rows=[], by_class={}, seen=set(), count=0, tensor=torch.ones(2))
    restore_attributes(fresh, names, state, torch.device("cpu"))
    assert fresh.mean == 0.25 and fresh.count == 7 and fresh.seen == {1, 3}
    assert [r.tolist() for r in fresh.rows] == [[0, 1, 2], [0, 1]] and torch.equal(fresh.by_class[1], torch.ones(2))
    fresh.tensor += 1  # a copy: the loaded state is not written through
    assert torch.equal(state["tensor"], torch.zeros(2))


def test_a_declared_value_a_checkpoint_cannot_hold_is_refused_naming_it():
    from retain.methods.state import save_attributes

    with pytest.raises(TypeError, match=r"_Holder\.where.*PosixPath"):
        save_attributes(_Holder(where=Path("/tmp")), ("where",))


def test_no_method_writes_its_state_by_hand():
    # State is declared (persist / teachers / transient, plus before_restore / after_restore for
    # what must be shaped or derived around the load): a hand-written state_dict could forget a field.
    from retain.methods import Method

    shipped = [name for name in method_names()  # test modules register stand-ins of users' methods
               if get_method_class(name).__module__.startswith(("retain.", "retain_examples"))]
    assert len(shipped) >= 20
    hand_written = sorted(name for name in shipped
                          if get_method_class(name).state_dict is not Method.state_dict
                          or get_method_class(name).load_state_dict is not Method.load_state_dict)
    assert hand_written == []


def test_a_restored_module_attribute_keeps_its_structure_and_moves_to_the_run_device():
    # BiC's bias layers grow one (α, β) per task: their state carries the ranges, and the restored
    # layers sit on the run's device (meta here stands for a GPU), as the hand-written load did.
    from retain.methods.bias_correction import BiasCorrection
    from retain.methods.state import restore_value, save_value

    bias = BiasCorrection()
    bias.add(0, 2)
    bias.add(2, 4)
    with torch.no_grad():
        bias.alphas[1].fill_(0.5)
    restored = restore_value(BiasCorrection(), save_value(bias, "bias"), torch.device("meta"))
    assert restored.ranges == [(0, 2), (2, 4)] and len(restored.alphas) == 2
    assert {p.device.type for p in restored.parameters()} == {"meta"}
    assert [a.requires_grad for a in restored.alphas] == [False, True]
    cpu = restore_value(BiasCorrection(), save_value(bias, "bias"), torch.device("cpu"))
    assert cpu.state() == bias.state()
