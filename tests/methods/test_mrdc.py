"""MRDC (spec §1.4-1.5, §10.1 items 1-2 and 4): JPEG memory in budget, quality chosen by Rq, a run."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from retain.errors import ConfigError
from retain.runs.config import build_config
from retain.runs.loop import build_setup, run
from retain.memory import JpegCodec

# Digits (8×8 gray) in two tasks of two classes; a memory worth 40 raw images.
BASE = ["method.name=mrdc", "memory.codec=jpeg", "memory.budget=40 images", "train.epochs=3", "scenario.num_tasks=2"]
GRID = "method.rq_grid=[95, 75, 50, 25, 5]"


def _config(*extra):
    return build_config(preset="demo", overrides=[*BASE, *extra])


def test_mrdc_needs_the_jpeg_codec_and_a_byte_budget():
    with pytest.raises(ConfigError, match="memory.codec"):
        build_setup(_config("memory.codec=raw"))
    with pytest.raises(ConfigError, match="memory.per_class"):
        build_setup(_config("memory.per_class=5"))


def test_rq_grid_must_hold_jpeg_qualities():
    with pytest.raises(ConfigError, match="rq_grid"):
        _config("method.rq_grid=[90, 0]")


@pytest.fixture(scope="module")
def auto_run(tmp_path_factory):
    config = _config("memory.quality=auto", "memory.shared_header=true", GRID)
    return run(config, out=tmp_path_factory.mktemp("mrdc") / "run")


def test_quality_search_logs_every_grid_point_and_respects_the_budget(auto_run):
    method_results = auto_run["method_results"]
    searches = method_results["quality_search"]
    assert [s["task"] for s in searches] == [0, 1]  # recorded for every task
    first = searches[0]
    assert [p["q"] for p in first["grid"]] == [95, 75, 50, 25, 5]
    chosen = method_results["quality"]
    assert chosen in (95, 75, 50, 25, 5)
    assert all(s["chosen"] == chosen for s in searches)  # one q for the whole run
    for search in searches:
        for point in search["grid"]:
            assert point["bytes"] <= search["room_bytes"]
            assert point["N_q"] * search["classes"] * point["bytes_per_image"] <= search["room_bytes"]
    # The choice is the selector's: every quality down to it passes, the next one fails (q = 95
    # keeps R_q within the tolerance on digits, so this run never falls back to the highest q).
    assert not first["fallback_to_highest"]
    passing = [p["passes"] for p in first["grid"]]
    index = [p["q"] for p in first["grid"]].index(chosen)
    assert all(passing[: index + 1])
    assert index + 1 == len(passing) or not passing[index + 1]


def test_ledger_stays_in_budget_with_more_exemplars_than_raw(auto_run):
    for entry in auto_run["ledger"]:
        assert entry["total_bytes"] <= entry["budget_bytes"]
        assert entry["items"]["codec_header"] > 0  # shared header charged once
    raw_rows = 40  # the same bytes hold 40 raw images
    assert auto_run["ledger"][-1]["exemplars"] > raw_rows


def test_mrdc_learns(auto_run):
    # Four seen classes: chance is 25%.
    assert auto_run["stage_accuracy"][-1] > 50
    assert set(auto_run["accuracy"]) == {"cnn", "nme", "ncm"}


def test_memory_holds_jpeg_round_trips_of_training_images_and_training_data_stays_raw():
    setup = build_setup(_config("memory.quality=60", "memory.shared_header=true"))
    method, ctx, task = setup.method, setup.ctx, setup.plan.tasks[0]
    from retain.engine.trainer import train_task

    method.before_task(task)
    train_task(method, task, ctx)
    method.after_task(task)
    store = method.memory.store
    stored = store.gather(torch.arange(len(store)))
    # The stored rows are JPEG bytes: with the shared header re-joined, each is a complete 8×8
    # grey JPEG file that an independent decoder (Pillow) reads to the pixels the store serves
    # (within one grey level: another libjpeg build).
    rows = store.encoded_rows()
    assert len(rows) == len(store) > 0
    files = [store.codec.full_file(row) for row in rows]
    assert all(f.startswith(b"\xff\xd8") and f.endswith(b"\xff\xd9") for f in files)
    pillow = []
    for data in files:
        with Image.open(io.BytesIO(data)) as image:
            assert (image.format, image.mode, image.size) == ("JPEG", "L", (8, 8))
            pillow.append(torch.tensor(np.array(image)))
    torch.testing.assert_close(torch.stack(pillow)[:, None], stored, atol=1, rtol=0)
    # They take fewer bytes than the raw rows they replace (8×8×1 = 64 B each), header included.
    raw_row = 64
    assert all(len(row) < raw_row for row in rows)
    assert store.nbytes() == sum(map(len, rows)) + len(store.codec.header) < len(rows) * raw_row
    codec = JpegCodec(60)
    train = ctx.dataset.train
    for c in task.new_classes:
        originals = train.images[train.labels == c]
        round_trips = codec.decode(codec.encode(originals), 1)
        mine = stored[store.labels == c].flatten(1)
        matches = (mine[:, None, :] == round_trips.flatten(1)[None, :, :]).all(dim=2)
        assert matches.any(dim=1).all()  # each memory row is the q60 compressed version of a training image
        # ... and decodes to that original within the codec's error: JPEG q60 moves an 8×8 digit by
        # at most ~11.4 grey levels on average (measured over the training split), never by 0 overall.
        source = originals[matches.int().argmax(dim=1)].flatten(1).float()
        error = (mine.float() - source).abs().mean(dim=1)
        assert error.max() <= 16 and error.mean() > 0
    # New-task training rows are gathered untouched from the dataset.
    from retain.engine.sampling import gather as _gather

    batch = _gather(ctx, method, torch.as_tensor(task.train_indices[:8]), torch.empty(0, dtype=torch.long))
    assert torch.equal(batch.raw, train.images[torch.as_tensor(task.train_indices[:8])])


@pytest.mark.parametrize("ncm_images", ["compressed", "original"])
def test_ncm_means_come_from_the_compressed_training_images_as_in_the_official_code(ncm_images):
    setup = build_setup(_config("memory.quality=20", "memory.shared_header=true", f"method.ncm_images={ncm_images}"))
    method, ctx, task = setup.method, setup.ctx, setup.plan.tasks[0]
    from retain.engine.trainer import train_task
    from retain.methods.exemplar import class_means

    method.before_task(task)
    train_task(method, task, ctx)
    method.after_task(task)
    train = ctx.dataset.train
    rows = torch.isin(train.labels, torch.as_tensor(task.seen_classes))
    images = train.images[rows]
    codec = JpegCodec(20)
    compressed = codec.decode(codec.encode(images), 1)
    expected_images = compressed if ncm_images == "compressed" else images
    other_images = images if ncm_images == "compressed" else compressed

    def means(batch):
        features = ctx.forward_eval(method.network, batch)["features"]
        return class_means(features, train.labels[rows], method.network.head.num_classes)

    torch.testing.assert_close(method.ncm_means, means(expected_images))
    assert not torch.allclose(method.ncm_means, means(other_images), atol=1e-4)
