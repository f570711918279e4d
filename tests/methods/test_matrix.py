"""Every registered method in every setting (issue 13, item 1): it learns within the budget, or it
refuses before training with a ConfigError that names the setting.

scikit-learn digits (real data, 10 classes, ~1,300 training images): 2 tasks of 5 classes
(disjoint) or 2 blurry-10 tasks, 1 epoch, MLP 128-128, 100 raw images' worth of memory (JPEG at
quality 50 holds more). Short on purpose: the whole matrix runs in the default suite.
"""

from pathlib import Path

import pytest

from retain.data import load_configured_dataset
from retain.errors import ConfigError
from retain.runs.config import build_config
from retain.runs.loop import run
from retain.methods import get_method_class, method_names
from retain.methods.base import score_label
from retain.methods.matrix import markdown_table, matrix

# The methods retain ships: other tests register methods of their own (plugins, deliberately
# broken ones) in the same process, and those are not the docs' table.
BUILTIN = [name for name in method_names() if get_method_class(name).__module__.startswith("retain.methods.")]
CELLS = matrix(BUILTIN)
DOCS = Path(__file__).resolve().parents[2] / "docs" / "matrix.md"


@pytest.fixture(autouse=True)
def digits_loaded_once(monkeypatch):
    """Parsing scikit-learn's digits costs about a second of CPU; the matrix needs it once."""
    import retain.runs.loop as run_module

    def cached(data, after=None, **options):
        if data.name not in _LOADED:
            _LOADED[data.name] = load_configured_dataset(data, **options)
        return _LOADED[data.name]

    monkeypatch.setattr(run_module, "load_user_dataset", cached)


_LOADED: dict = {}


# What a method needs besides the setting. GDumb learns from its memory alone, so one epoch is
# 4 steps: 10 epochs over its 100 images see as many rows as one epoch of a task. MEMO splits its
# backbone into shared and task blocks, which the MLP cannot do (a ConfigError about the model).
SETUP = {"gdumb": ["train.epochs=10"], "memo": ["model.backbone=resnet14", "model.options={}"]}


def overrides(cell) -> list[str]:
    setting = cell.setting
    values = [
        f"method.name={cell.method}", f"scenario.kind={setting.kind}", f"scenario.stream={setting.stream}",
        "train.epochs=1", "memory.budget=100 images", "logging.report=false", "logging.tensorboard=false",
    ]
    values += ["scenario.num_tasks=2"] if setting.kind == "blurry" else ["scenario.increment=5"]
    values += SETUP.get(cell.method, [])
    if setting.replay is not None:
        values.append(f"memory.replay={setting.replay}")
    if setting.head != "growing":
        values.append(f"model.head={setting.head}")
    if setting.codec is not None:
        values += [f"memory.codec={setting.codec}"] + (["memory.quality=50"] if setting.codec == "jpeg" else [])
    return values


def _id(cell) -> str:
    s = cell.setting
    return f"{cell.method}-{s.kind}-{s.stream}-{s.codec or 'none'}" + (f"-{s.replay}" if s.replay else "") + (
        f"-head-{s.head}" if s.head != "growing" else "")


@pytest.mark.parametrize("cell", CELLS, ids=[_id(c) for c in CELLS])
def test_cell_learns_or_refuses_before_training(cell, tmp_path):
    if not cell.runs:  # refused when the config is built (so --dry-run refuses it too)
        with pytest.raises(ConfigError) as refused:
            run(build_config(preset="demo", overrides=overrides(cell), seed=1), out=tmp_path / "run")
        message = str(refused.value)
        # The error names every field of the cell's setting (it may name the resolved memory.replay too).
        assert all(part in message for part in cell.setting.describe().split(", ")) and cell.refusal in message
        assert not (tmp_path / "run" / "results.json").exists()  # nothing was trained
        return
    result = run(build_config(preset="demo", overrides=overrides(cell), seed=1), out=tmp_path / "run")
    assert result["complete"] and len(result["stage_accuracy"]) == 2
    # Above chance on the classes seen so far (10 % after the last task; 20 % after a disjoint
    # first task of 5 classes): every cell must learn something.
    assert result["stage_accuracy"][-1] > 2 * 100 / result["seen_classes"][-1]
    for entry in result.get("ledger", []):
        assert entry["total_bytes"] <= entry["budget_bytes"]
    # Each name a method gives a score set names a set it scores, and a set of its own (not CNN or
    # NME) is reported by a name: IL2M's once labelled its raw logits "IL2M-rectified CNN".
    method_cls = get_method_class(cell.method)
    assert set(method_cls.score_labels) <= set(result["accuracy"]), (method_cls.score_labels, list(result["accuracy"]))
    primary = result["primary_score"]
    assert primary.split("-")[0] in ("cnn", "nme") or primary in method_cls.score_labels, primary
    assert result["primary_score_label"] == score_label(method_cls, primary)


def test_the_docs_table_is_current():
    assert DOCS.read_text() == markdown_table(BUILTIN), "regenerate it: retain matrix --out docs/matrix.md"


def test_every_registered_method_is_in_the_matrix():
    every = {c.method for c in matrix()}  # unfiltered: whatever is registered, plugins included
    assert set(BUILTIN) <= every and len(BUILTIN) >= 20
    # 3 scenario kinds (x 2 codecs for a method with memory) + 3 options (docs/replay.md).
    assert all(len([c for c in CELLS if c.method == m]) in (3 + 3, 6 + 3) for m in BUILTIN)


@pytest.mark.parametrize("name", sorted({c.method for c in CELLS}))
def test_several_processes_learn_or_refuse_before_training(name, tmp_path):
    """distributed.nproc > 1 is refused when the config is built (before any process starts) for a
    method that declares why, and accepted for every other one."""
    from retain.methods import get_method_class

    cell = next(c for c in CELLS if c.method == name and c.runs)
    values = [*overrides(cell), "distributed.nproc=2"]
    reason = get_method_class(name).distributed_refusal
    if reason is None:
        assert build_config(preset="demo", overrides=values, seed=1).distributed.nproc == 2
        return
    with pytest.raises(ConfigError) as refused:
        build_config(preset="demo", overrides=values, seed=1)
    assert "distributed.nproc=2" in str(refused.value) and reason in str(refused.value)
