"""The folder the bad-input table runs in: a finished run, an interrupted one, config and grid
files, dataset folders with broken files and result files a report must refuse.

Everything is small (digits, 2-3 tasks, 1 epoch) so that it builds in seconds, in-process.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import pickle
import shutil
import struct
from pathlib import Path

import numpy as np
import torch
import yaml

from injector import injected
from retain.runs.config import build_config
from retain.runs.loop import run

# A run small enough to build in a second or two, with a memory and epoch checkpoints.
SMALL = ["method.name=replay", "memory.budget=40 images", "scenario.num_tasks=3", "train.epochs=2",
         "checkpoint.every_epochs=1", "logging.tensorboard=false", "logging.report=false"]


def _interrupted_run(path: Path, moment: str) -> None:
    """A run stopped by KeyboardInterrupt at `moment` (the fault injector), as Ctrl-C would stop it."""
    try:
        with injected(moment, action="interrupt"):
            run(build_config(preset="demo", overrides=SMALL), out=path)
    except KeyboardInterrupt:
        pass
    else:  # pragma: no cover - the injector must fire
        raise AssertionError(f"the fault {moment} did not interrupt the run")


def _idx(array: np.ndarray, type_code: int = 0x08) -> bytes:
    header = bytes([0, 0, type_code, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes())


def _mnist_folder(path: Path, train_labels: np.ndarray | None = None, **replace: bytes) -> None:
    """Four tiny IDX files (20 train, 10 test images), any of them replaced by `replace[name]`."""
    path.mkdir(parents=True)
    rng = np.random.default_rng(0)
    labels = np.arange(20) % 10 if train_labels is None else train_labels
    files = {
        "train-images-idx3-ubyte.gz": _idx(rng.integers(0, 256, (20, 28, 28))),
        "train-labels-idx1-ubyte.gz": _idx(labels),
        "t10k-images-idx3-ubyte.gz": _idx(rng.integers(0, 256, (10, 28, 28))),
        "t10k-labels-idx1-ubyte.gz": _idx(np.arange(10) % 10),
    }
    files.update(replace)
    for name, data in files.items():
        (path / name).write_bytes(data)


class _Exploit:
    """A pickle that would run a shell command when unpickled (must never be)."""

    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def _cifar_folder(path: Path, batch: bytes | None = None) -> None:
    """A cifar-10-batches-py folder whose data_batch_1 is `batch` (the others valid)."""
    folder = path / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    valid = pickle.dumps({b"data": np.zeros((10, 3072), np.uint8), b"labels": list(range(10))})
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (folder / name).write_bytes(valid)
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": [str(i).encode() for i in range(10)]}))
    if batch is not None:
        (folder / "data_batch_1").write_bytes(batch)


def _png(path: Path, value: int | None = None) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.full((8, 8, 3), value, np.uint8) if value is not None else np.random.default_rng(len(str(path))).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)


def _with_digest(path: Path) -> None:
    """Record `path`'s current SHA-256 as its digest (a crafted file that passes the digest check)."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    path.with_name(path.name + ".sha256").write_text(f"{digest}  {path.name}\n")


def _rewrite(path: Path, **changes) -> None:
    """Load a checkpoint, change top-level entries (a dict merges into the entry), save it with a matching digest."""
    payload = torch.load(path, weights_only=True)
    for key, value in changes.items():  # None empties the entry
        payload[key] = {} if value is None else {**payload[key], **value} if isinstance(value, dict) else value
    path.write_bytes(_torch_bytes(payload))
    _with_digest(path)


def _torch_bytes(payload) -> bytes:
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def build_workspace(root: Path) -> None:
    """Create every file the bad-input table refers to under `root`."""
    run(build_config(preset="demo", overrides=SMALL), out=root / "done")
    _interrupted_run(root / "partial", "evaluation@2")  # task-1 checkpoint + epoch checkpoints of task 2
    _interrupted_run(root / "started", "start-up")  # config.yaml and plan.json, no checkpoint, no results yet

    ckpt = root / "partial" / "checkpoints"
    task_file = next(ckpt.glob("task-*.pt"))
    # Interrupted runs whose checkpoints are broken, one way each (no other good checkpoint to fall back on).
    variants = {
        "ck-truncated": lambda d: (d / task_file.name).write_bytes(task_file.read_bytes()[:1000]),
        "ck-garbage": lambda d: ((d / task_file.name).write_bytes(b"not a zip file" * 100), _with_digest(d / task_file.name)),
        "ck-exploit": lambda d: ((d / task_file.name).write_bytes(pickle.dumps(_Exploit())), _with_digest(d / task_file.name)),
        "ck-foreign": lambda d: ((d / task_file.name).write_bytes(_torch_bytes({"format": 1, "kind": "task"})), _with_digest(d / task_file.name)),
        "ck-format": lambda d: _rewrite(d / task_file.name, format=99),
        "ck-no-digest": lambda d: (d / f"{task_file.name}.sha256").unlink(),
        "ck-other-config": lambda d: _rewrite(d / task_file.name, config={"seed": 5}),
        "ck-method-state": lambda d: _rewrite(d / task_file.name, method=None),
        "ck-legacy-name": lambda d: ((d / task_file.name).rename(d / "task.pt"), (d / f"{task_file.name}.sha256").unlink()),
    }
    for name, damage in variants.items():
        target = root / name
        shutil.copytree(root / "partial", target)
        for epoch in (target / "checkpoints").glob("epoch-*"):
            epoch.unlink()  # the task checkpoint is the only one left
        damage(target / "checkpoints")
    no_task = root / "ck-no-task"  # the task checkpoints deleted, the later epoch checkpoints kept
    shutil.copytree(root / "partial", no_task)
    for path in (no_task / "checkpoints").glob("task-*"):
        path.unlink()
    bad_yaml = root / "ck-bad-config-yaml"
    shutil.copytree(root / "partial", bad_yaml)
    (bad_yaml / "config.yaml").write_text("train: {epochs: [1,\n")
    bad_value = root / "ck-bad-config-value"
    shutil.copytree(root / "partial", bad_value)
    (bad_value / "config.yaml").write_text((bad_value / "config.yaml").read_text().replace("epochs: 2", "epochs: -2"))

    cfg = root / "cfg"
    cfg.mkdir()
    (cfg / "folder.yaml").mkdir()
    (cfg / "dir.npy").mkdir()
    (cfg / "latin1.yaml").write_bytes("train:\n  epochs: 2 # caf\xe9\n".encode("latin-1"))
    (cfg / "invalid.yaml").write_text("train: {epochs: 2\n")
    (cfg / "tabs.yaml").write_text("train:\n\tepochs: 2\n")
    (cfg / "list.yaml").write_text("- train\n- epochs\n")
    (cfg / "scalar.yaml").write_text("42\n")
    (cfg / "dup-top.yaml").write_text("train: {epochs: 2}\nseed: 1\ntrain: {lr: 0.5}\n")
    (cfg / "dup-nested.yaml").write_text("train:\n  epochs: 2\n  epochs: 3\n")
    (cfg / "unknown-section.yaml").write_text("trian: {epochs: 2}\n")
    (cfg / "bool-epochs.yaml").write_text("train: {epochs: true}\n")
    (cfg / "bad-preset.yaml").write_text("preset: nope\n")
    (cfg / "binary.yaml").write_bytes(bytes(range(256)))
    (cfg / "a-file").write_text("not a folder\n")
    np.save(cfg / "objects.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    (cfg / "text.npy").write_text("0.1 0.2 0.3\n")
    np.save(cfg / "short.npy", np.zeros(5, np.float32))
    np.save(cfg / "strings.npy", np.array(["a", "b"]))
    np.save(cfg / "other-data.npy", np.zeros(1347, np.float32))
    (cfg / "other-data.json").write_text(json.dumps({"dataset": "cifar10"}))
    np.save(cfg / "bad-json.npy", np.zeros(1347, np.float32))
    np.save(cfg / "nan-scores.npy", np.where(np.arange(1347) % 2 == 0, np.nan, 0.5).astype(np.float32))
    (cfg / "bad-json.json").write_text("{not json")

    data = root / "data"
    _mnist_folder(data / "fm-truncated", **{"train-images-idx3-ubyte.gz": _idx(np.zeros((20, 28, 28)))[:-30]})
    _mnist_folder(data / "fm-magic", **{"t10k-images-idx3-ubyte.gz": gzip.compress(b"\x01\x02\x03\x04" + bytes(100))})
    _mnist_folder(data / "fm-short-labels", **{"train-labels-idx1-ubyte.gz": _idx(np.arange(7))})
    _mnist_folder(data / "fm-label-range", train_labels=np.arange(20) % 12)
    _mnist_folder(data / "fm-not-gzip", **{"train-labels-idx1-ubyte.gz": b"plain bytes, not gzip"})
    _mnist_folder(data / "fm-empty-file", **{"t10k-labels-idx1-ubyte.gz": b""})
    _mnist_folder(data / "fm-test-size", **{"t10k-images-idx3-ubyte.gz": _idx(np.zeros((10, 20, 20)))})
    _mnist_folder(data / "fm-labels-2d", **{"train-labels-idx1-ubyte.gz": _idx(np.zeros((20, 2)))})
    _cifar_folder(data / "cifar-garbage", b"garbage, not a pickle")
    _cifar_folder(data / "cifar-exploit", pickle.dumps(_Exploit()))
    _cifar_folder(data / "cifar-no-labels", pickle.dumps({b"data": np.zeros((10, 3072), np.uint8)}))
    _cifar_folder(data / "cifar-wrong-shape", pickle.dumps({b"data": np.zeros((10, 100), np.uint8), b"labels": list(range(10))}))
    _cifar_folder(data / "cifar-label-range", pickle.dumps({b"data": np.zeros((10, 3072), np.uint8), b"labels": [11] * 10}))
    (data / "if-empty").mkdir()
    _png(data / "if-train-only" / "train" / "a" / "1.png")
    for split in ("train", "val"):
        (data / "if-no-images" / split / "a").mkdir(parents=True)
        (data / "if-no-images" / split / "a" / "notes.txt").write_text("no images here")
        _png(data / "if-unknown-class" / split / ("a" if split == "train" else "zebra") / "1.png")
        for cls in ("a", "b"):
            _png(data / "if-constant" / split / cls / "1.png", value=0)
            _png(data / "if-broken-image" / split / cls / "1.png")
    (data / "if-broken-image" / "train" / "a" / "2.png").write_bytes(b"\x89PNG\r\n\x1a\n but cut short")
    (data / "ti-empty").mkdir()

    reports = root / "reports"
    for name, text in {
        "malformed": "{\"method\": \"replay\", \"accuracy_matrix\": [[",
        "no-metrics": json.dumps({"method": "replay", "seed": 0, "accuracy_matrix": [[90.0]], "stage_accuracy": [90.0], "task_classes": [[0, 1]]}),
        "matrix-text": json.dumps({"method": "replay", "seed": 0, "accuracy_matrix": "90", "stage_accuracy": [90.0], "task_classes": [[0, 1]],
                                   "metrics": {"average_incremental_accuracy": 90.0, "last_accuracy": 90.0}}),
        "ragged": json.dumps({"method": "replay", "seed": 0, "accuracy_matrix": [[90.0, 1.0, 2.0]], "stage_accuracy": [90.0], "task_classes": [[0, 1], [2, 3]],
                              "metrics": {"average_incremental_accuracy": 90.0, "last_accuracy": 90.0}}),
        "a-list": "[1, 2, 3]",
    }.items():
        (reports / name).mkdir(parents=True)
        (reports / name / "results.json").write_text(text)
    (reports / "latin1").mkdir()
    (reports / "latin1" / "results.json").write_bytes(b'{"method": "caf\xe9"}')
    (reports / "empty-dir").mkdir()
    # A run directory with a good report next to a run whose results are broken: the report must survive.
    shutil.copytree(root / "done", reports / "mixed" / "good")
    (reports / "mixed" / "bad").mkdir()
    (reports / "mixed" / "bad" / "results.json").write_text("{}")
    (reports / "mixed" / "report.md").write_text("# the good report\n")

    grids = root / "grids"
    grids.mkdir()
    base = {"preset": "demo", "train": {"epochs": 1}}
    for name, grid in {
        "empty-axis": {"base": base, "axes": {"seed": []}},
        "no-axes": {"base": base},
        "unknown-key": {"base": base, "axes": {"seed": [0]}, "colour": "red"},
        "executor": {"base": base, "axes": {"seed": [0]}, "executor": "slurm"},
        "workers-zero": {"base": base, "axes": {"seed": [0]}, "workers": 0},
        "bad-value": {"base": base, "axes": {"train.epochs": [1, "one"]}},
        "bool-value": {"base": base, "axes": {"train.lr": [0.1, True]}},
        "same-dirs": {"base": base, "axes": {"train.lr": [0.1, "0.1"]}},
        "bad-method": {"base": base, "axes": {"method": ["finetune", "fintune"]}},
        "bad-preset-axis": {"base": base, "axes": {"preset": ["demo", "nope"]}},
        "preset-not-name": {"base": base, "axes": {"preset": [{"a": 1}]}},
        "missing-base": {"base": "nowhere.yaml", "axes": {"seed": [0]}},
        "axes-list": {"base": base, "axes": ["seed", 0]},
        "resources": {"base": base, "axes": {"seed": [0]}, "resources": {"cpus": 0}},
        "memo-mlp": {"base": base, "axes": {"method": ["memo"]}},
        "base-bad": {"base": {"preset": "demo", "train": {"epochs": -1}}, "axes": {"seed": [0]}},
        "variant-not-mapping": {"base": base, "axes": {"variant": ["rm-no-da"]}},
        "variant-bad-value": {"base": base, "axes": {"variant": [{"name": "short", "train": {"epochs": -1}}]}},
    }.items():
        (grids / f"{name}.yaml").write_text(yaml.safe_dump(grid))
    (grids / "invalid.yaml").write_text("axes: {seed: [0\n")
    (grids / "list.yaml").write_text("- 1\n- 2\n")
    (grids / "dup.yaml").write_text("axes: {seed: [0]}\naxes: {seed: [1]}\n")
    (grids / "good.yaml").write_text(yaml.safe_dump({"base": base, "axes": {"seed": [0]}}))

    plugins = root / "plugins"
    plugins.mkdir()
    (plugins / "raises.py").write_text('raise RuntimeError("the plugin cannot start without its licence file")\n')
    (plugins / "syntax.py").write_text("def broken(:\n    pass\n")
    (plugins / "taken.py").write_text(
        "from retain import register_backbone\n\n\n"
        "@register_backbone('mlp')\n"
        "def another_mlp(in_channels, image_size):\n"
        "    raise AssertionError('never built')\n"
    )
    (plugins / "strict_method.py").write_text(  # a plugin method whose Params are as strict as the built-in ones
        "from pydantic import Field\n\n"
        "from retain import MethodParams, register_method\n"
        "from retain.methods.finetune import Finetune\n\n\n"
        "class StrictParams(MethodParams):\n"
        "    strength: float = Field(1.0, ge=0)\n\n\n"
        "@register_method('fault-plugin')\n"
        "class FaultPlugin(Finetune):\n"
        "    \"\"\"Fine-tuning with a parameter, for the bad-input table.\"\"\"\n\n"
        "    Params = StrictParams\n"
    )
    (cfg / "imports-raises.yaml").write_text("preset: demo\nimports: [../plugins/raises.py]\n")
    (cfg / "imports-scalar.yaml").write_text("preset: demo\nimports: ../plugins/raises.py\n")
