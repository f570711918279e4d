"""`python -m benchmarks fingerprint [--out FILE] [--compare FILE] [--only NAME ...] [--list]`.

A behaviour fingerprint: every shipped preset (and, for a preset with `by_method`, each of those
methods) and every built-in method on the digits demo, shrunk to 2 tasks, 1 epoch and a few rows,
run once; one SHA-256 per case over what the run learned and reported: the accuracy matrices of
every score set in results.json (with stage accuracies), the memory ledger and the final network
weights from the last task checkpoint. A refactoring that claims "behaviour unchanged" runs this
before and after (`PYTHONPATH=<tree>/src`) and shows the two files equal (`--compare`).

Datasets other than digits (MNIST, Fashion-MNIST, CIFAR-10/100) are generated in a temp dir in
their real on-disk formats (benchmarks/fake_datasets.py), so every case runs on any machine, in
seconds, on the same bytes. The hashes are of this machine's torch build and CPU: compare files
made with the same environment.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import torch
import yaml

from benchmarks.fake_datasets import write_dataset

# Applied to every case: the smallest run that still crosses a task boundary with a memory.
SHRINK: dict[str, Any] = {
    "scenario__num_tasks": 2,
    "train__epochs": 1,
    "train__threads": 1,
    "logging__tensorboard": False,
    "logging__report": False,
}
# What a method needs on the digits demo (MLP backbone) to run as it is meant to (tests/methods/test_method_state.py).
METHOD_SETTINGS: dict[str, dict[str, Any]] = {
    "memo": {"model__backbone": "convnet2", "model__options": {}},
    "mrdc": {"memory__codec": "jpeg", "memory__quality": 50},
    "joint": {"method__training": "cumulative"},
}
# Set on the validated config (an override merges into a mapping: it cannot take the MLP's `hidden` away).
METHOD_REPLACE: dict[str, dict[str, Any]] = {}
# Rows per class of the generated datasets: CIFAR's ResNets and RM's per-sample uncertainty are the slow cases.
ROWS_PER_CLASS = {"mnist": (12, 4), "fashion-mnist": (12, 4), "cifar10": (6, 2), "cifar100": (4, 2)}


@dataclass(frozen=True)
class Case:
    """One shrunk run: a preset, optionally another method, and the overrides that shrink it."""

    name: str
    preset: str
    overrides: dict[str, Any] = field(default_factory=dict)
    dataset: str | None = None  # a generated dataset the case reads (None: digits, built in)
    replace: dict[str, Any] = field(default_factory=dict)  # dotted path -> value, set on the built config


def _presets() -> dict[str, dict[str, Any]]:
    folder = resources.files("retain.scenarios") / "presets"
    return {p.name.removesuffix(".yaml"): yaml.safe_load(p.read_text()) for p in sorted(folder.iterdir(), key=lambda p: p.name)
            if p.name.endswith(".yaml")}


def _preset_shrink(tree: dict[str, Any]) -> dict[str, Any]:
    """Overrides that keep a preset's shape but cut its length: first-task epochs too, milestones inside one epoch."""
    train = tree.get("train", {})
    overrides: dict[str, Any] = {}
    if "first_epochs" in train:
        overrides["train__first_epochs"] = 1
    for key in ("milestones", "first_milestones"):
        if key in train:
            overrides[f"train__{key}"] = [1]
    if "first_patience" in train:
        overrides["train__first_patience"] = 0
    if "patience" in train:
        overrides["train__patience"] = 0
    return overrides


def _builtin_methods() -> list[str]:
    from retain.methods import get_method_class, method_names

    return [name for name in method_names() if get_method_class(name).__module__.startswith("retain.methods.")]


def cases() -> list[Case]:
    """Every preset, every preset x by_method method, every built-in method on the digits demo."""
    found: list[Case] = []
    for name, tree in _presets().items():
        dataset = tree.get("data", {}).get("name")
        dataset = None if dataset == "digits" else dataset
        if dataset is not None and dataset not in ROWS_PER_CLASS:
            continue  # ImageNet-scale presets: no generated copy of their data (their dry runs are tested)
        shrink = _preset_shrink(tree)
        found.append(Case(f"preset:{name}", name, shrink, dataset))
        for method in tree.get("by_method", {}):
            found.append(Case(f"preset:{name}+{method}", name, {**shrink, "method": {"name": method}}, dataset))
    for method in _builtin_methods():
        found.append(Case(f"method:{method}", "demo", {"method": {"name": method}, **METHOD_SETTINGS.get(method, {})},
                          replace=METHOD_REPLACE.get(method, {})))
    return found


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, allow_nan=True).encode()


def _weights_bytes(state: dict[str, torch.Tensor]) -> bytes:
    """Every tensor's name, dtype, shape and bytes, in name order (independent of how torch.save lays a file out)."""
    out = io.BytesIO()
    for name in sorted(state):
        tensor = state[name].detach().cpu().contiguous()
        out.write(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        out.write(tensor.reshape(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return out.getvalue()


def fingerprint_run(run_dir: Path) -> dict[str, str]:
    """The hashes of one finished run directory: accuracy, ledger, network and all three together."""
    results = json.loads((run_dir / "results.json").read_text())
    accuracy = {"accuracy": results["accuracy"], "accuracy_matrix": results["accuracy_matrix"],
                "stage_accuracy": results["stage_accuracy"]}
    ledger = [{k: v for k, v in entry.items() if "seconds" not in k} for entry in results.get("ledger", [])]
    last = sorted((run_dir / "checkpoints").glob("task-*.pt"))[-1]
    network = torch.load(last, map_location="cpu", weights_only=True)["method"]["network"]
    parts = {"accuracy": _sha(_json_bytes(accuracy)), "ledger": _sha(_json_bytes(ledger)),
             "network": _sha(_weights_bytes(network))}
    parts["case"] = _sha("".join(parts[k] for k in ("accuracy", "ledger", "network")).encode())
    return parts


def run_case(case: Case, work: Path) -> dict[str, str]:
    """Run `case` under `work` (its generated dataset written there once) and fingerprint it."""
    import retain

    overrides = {**SHRINK, **case.overrides}
    if case.dataset is not None:
        folder = work / "data" / case.dataset
        if not folder.exists():
            write_dataset(case.dataset, folder, *ROWS_PER_CLASS[case.dataset])
        overrides["data"] = {"dir": str(folder), "download": False}
    config = retain.make_config(case.preset, **overrides)
    for path, value in case.replace.items():
        *sections, key = path.split(".")
        node = config
        for section in sections:
            node = getattr(node, section)
        setattr(node, key, value)
    out = work / "runs" / case.name.replace(":", "-").replace("+", "-")
    retain.run(config, out=out, quiet=True)
    return fingerprint_run(out)


def run_cases(selected: list[Case], log=print) -> dict[str, dict[str, str]]:
    """Fingerprints of `selected`, in order, in one temp dir."""
    found: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory(prefix="retain-fingerprint-") as tmp:
        for case in selected:
            started = time.perf_counter()
            found[case.name] = run_case(case, Path(tmp))
            log(f"{found[case.name]['case'][:16]}  {case.name}  ({time.perf_counter() - started:.1f} s)")
    return found


def differences(before: dict[str, dict[str, str]], after: dict[str, dict[str, str]]) -> list[str]:
    """One line per case whose hash differs or that only one side has."""
    lines = []
    for name in sorted(set(before) | set(after)):
        if name not in before or name not in after:
            lines.append(f"{name}: only in {'after' if name in after else 'before'}")
        elif before[name]["case"] != after[name]["case"]:
            changed = [k for k in ("accuracy", "ledger", "network") if before[name][k] != after[name][k]]
            lines.append(f"{name}: {', '.join(changed)} differ")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks fingerprint", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, help="write the hashes here (JSON: case -> hashes)")
    parser.add_argument("--compare", type=Path, help="a file written by --out earlier: exit 1 when any hash differs")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="only these cases (names as --list prints them)")
    parser.add_argument("--list", action="store_true", help="print the case names and exit")
    args = parser.parse_args(argv)
    selected = cases()
    if args.list:
        print("\n".join(case.name for case in selected))
        return 0
    if args.only:
        unknown = sorted(set(args.only) - {case.name for case in selected})
        if unknown:
            parser.error(f"unknown case(s) {', '.join(unknown)}; --list prints the names")
        selected = [case for case in selected if case.name in args.only]
    started = time.perf_counter()
    found = run_cases(selected)
    print(f"{len(found)} cases in {time.perf_counter() - started:.0f} s")
    if args.out:
        args.out.write_text(json.dumps(found, indent=1, sort_keys=True) + "\n")
    if args.compare:
        before = json.loads(args.compare.read_text())
        if args.only:
            before = {name: value for name, value in before.items() if name in found}
        lines = differences(before, found)
        print("\n".join(lines) if lines else f"all {len(found)} cases equal to {args.compare}")
        return 1 if lines else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
