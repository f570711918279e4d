"""Runs through an encoded dataset (issue 27): a 2-task LUCIR and a 2-task MRDC with a JPEG memory,
resumed bit-exact after an interruption mid-task, and two processes that each decode their shard."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "faults"))

from injector import injected  # noqa: E402
from jpeg_folder import write_jpeg_folder  # noqa: E402
from retain.augment import Augmenter  # noqa: E402
from retain.config import AugmentConfig  # noqa: E402
from retain.data import load_dataset  # noqa: E402
from retain.engine.feed import StreamFeed  # noqa: E402
from retain.runs.checkpoint import load_checkpoint  # noqa: E402
from retain.runs.config import build_config  # noqa: E402
from retain.launch import launch  # noqa: E402
from retain.runs.loop import resume_run, run  # noqa: E402


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return write_jpeg_folder(tmp_path_factory.mktemp("jpegs") / "folder", train=96, test=32, sides=(20, 60))


@pytest.fixture(autouse=True)
def data_cache(tmp_path_factory, monkeypatch) -> Path:
    cache = tmp_path_factory.getbasetemp() / "encoded-cache"  # shared: the cache is built once
    monkeypatch.setenv("RETAIN_DATA", str(cache))
    return cache


def _config(folder: Path, method: str, *extra: str, storage: str = "encoded", side: int = 16):
    overrides = [
        "data.name=imagefolder", f"data.dir={folder}", f"data.storage={storage}", f"data.image_size={side}",
        "data.max_side=40", "data.workers=2", "augment.resized_crop=true", "augment.flip=true",
        f"augment.eval_resize={side + side // 8}",
        f"method.name={method}", "scenario.increment=2", "model.backbone=mlp", "model.options={hidden: [64]}",
        "train.epochs=2", "train.batch_size=16", "train.threads=1", "logging.report=false", "logging.tensorboard=false",
    ]
    given = {setting.split("=", 1)[0] for setting in extra}  # extra replaces a base setting (each key once)
    overrides = [o for o in overrides if o.split("=", 1)[0] not in given] + list(extra)
    return build_config(preset="demo", overrides=overrides, seed=0)


def test_lucir_learns_through_the_encoded_path(folder, tmp_path):
    results = run(_config(folder, "lucir", "memory.budget=16 images"), out=tmp_path / "lucir")
    assert results["complete"] and len(results["stage_accuracy"]) == 2
    assert results["stage_accuracy"][0] > 75  # two colour-coded classes: well above chance (50)
    # the memory holds evaluation views (3×16×16 bytes each), within the budget
    assert results["ledger"][-1]["total_bytes"] <= 16 * 3 * 16 * 16


def test_mrdc_keeps_jpeg_rows_of_encoded_images(folder, tmp_path):
    budget = 8 * 3 * 32 * 32  # 8 raw images of 32×32
    results = run(_config(folder, "mrdc", "memory.codec=jpeg", "memory.quality=50", f"memory.budget={budget}", side=32),
                  out=tmp_path / "mrdc")
    assert results["complete"]
    ledger = results["ledger"][-1]
    assert ledger["total_bytes"] <= budget
    assert ledger["exemplars"] > 8  # compressed rows: more exemplars than raw images would fit


def test_an_interrupted_encoded_run_resumes_bit_exact(folder, tmp_path):
    extra = ("memory.budget=16 images", "checkpoint.every_epochs=1")
    full = run(_config(folder, "lucir", *extra), out=tmp_path / "full")
    with injected("mid-epoch@2", action="interrupt"), pytest.raises(KeyboardInterrupt):
        run(_config(folder, "lucir", *extra), out=tmp_path / "cut")
    again = resume_run(tmp_path / "cut")
    assert again["resumes"] == [{"completed_tasks": 1, "epoch_checkpoint": True}]
    assert json.dumps(again["accuracy"]) == json.dumps(full["accuracy"])
    # bit-exact: the final network weights (and everything else saved) are the same bytes
    a, b = (load_checkpoint(tmp_path / name / "checkpoints" / "task-0002.pt", "task") for name in ("full", "cut"))
    weights = [k for k in a["method"]["network"] if k.endswith("weight")]
    assert weights and all(torch.equal(a["method"]["network"][k], b["method"]["network"][k]) for k in weights)


class _Rank:
    """A stand-in process group of two: this is rank `rank`; gather_rows keeps what this rank sends."""

    def __init__(self, rank: int) -> None:
        self.rank, self.world_size, self.sent = rank, 2, []

    def bounds(self, rows: int) -> tuple[int, int]:
        base, extra = divmod(rows, 2)
        start = self.rank * base + min(self.rank, extra)
        return start, start + base + (1 if self.rank < extra else 0)

    def gather_rows(self, local: torch.Tensor) -> torch.Tensor:
        self.sent.append(local)
        return local


def _augmenter() -> Augmenter:
    return Augmenter(AugmentConfig(resized_crop=True), (0.5,) * 3, (0.25,) * 3, seed=0, side=16)


def test_each_rank_decodes_only_its_share_of_a_batch(folder, monkeypatch):
    dataset = load_dataset("imagefolder", data_dir=folder, side=16, storage="encoded", max_side=40)
    decoded: list[list[int]] = []
    real = type(dataset.train.images).crops

    def spy(self, indices, boxes):
        decoded.append(indices.tolist())
        return real(self, indices, boxes)

    monkeypatch.setattr(type(dataset.train.images), "crops", spy)
    batches = [torch.arange(0, 9), torch.arange(20, 29)]
    sent = {}
    for rank in (0, 1):
        group = _Rank(rank)
        feed = StreamFeed(dataset.train, _augmenter(), group)
        decoded.clear()
        feed.plan(batches)
        for batch in batches:
            feed.rows(batch)
        sent[rank] = group.sent
        share = [list(range(0, 5)), list(range(20, 25))] if rank == 0 else [list(range(5, 9)), list(range(25, 29))]
        assert decoded == share
    one = StreamFeed(dataset.train, _augmenter())
    one.plan(batches)
    for k, batch in enumerate(batches):
        rows, cropped = one.rows(batch)
        # the two shares, cut with the same boxes, make the one-process batch
        assert cropped and torch.equal(torch.cat([sent[0][k], sent[1][k]]), rows)


@pytest.mark.slow
def test_two_processes_train_on_an_encoded_dataset(folder, tmp_path):
    two = launch(_config(folder, "lucir", "memory.budget=16 images", "distributed.nproc=2", "train.epochs=1"),
                 out=tmp_path / "two")
    assert two["complete"] and two["distributed"]["nproc"] == 2
    for boundary in two["distributed"]["task_boundaries"]:
        assert boundary["state_equal"] and len(set(boundary["memory_digests"])) == 1


def test_a_streaming_memory_stores_evaluation_views_not_training_crops(folder):
    from retain.engine.trainer import train_task
    from retain.runs.loop import build_setup

    setup = build_setup(_config(folder, "replay", "memory.policy=reservoir", "memory.budget=12 images", "train.epochs=1"))
    task = setup.plan.tasks[0]
    setup.method.before_task(task)
    train_task(setup.method, task, setup.ctx)
    store = setup.method.memory.store
    rows = store.gather(torch.arange(len(store)))
    views = setup.ctx.train_images(torch.as_tensor(task.train_indices))
    assert len(store) == 12
    for row in rows:  # every stored row is one training image's evaluation view, exactly
        assert (views == row).flatten(1).all(dim=1).any()


def test_a_skipped_batch_does_not_shift_the_crops_of_the_next(folder):
    dataset = load_dataset("imagefolder", data_dir=folder, side=16, storage="encoded", max_side=40)
    batches = [torch.arange(0, 4), torch.arange(4, 8), torch.arange(8, 12), torch.arange(12, 16)]
    every, skipping = StreamFeed(dataset.train, _augmenter()), StreamFeed(dataset.train, _augmenter())
    every.plan(batches)
    skipping.plan(batches)
    expected = [every.rows(b)[0] for b in batches]
    got = [skipping.rows(batches[0])[0], skipping.rows(batches[3])[0]]  # batches 1 and 2 skipped (past the look-ahead)
    assert torch.equal(got[0], expected[0]) and torch.equal(got[1], expected[3])
    assert not torch.equal(expected[3], dataset.train.images.views(batches[3]))  # really cropped
