"""The encoded dataset (docs/data.md): cache build, CPU decode + augment, bytes per image, and
end-to-end ResNet-18 training at 224 through the encoded path against the same network fed from memory.

A folder of ImageNet-like JPEGs is generated first (`--images`, default 2,000; sides 300–500 px
drawn independently, 10 classes, quality 90; smooth colour fields plus noise, so the files are
about the size of ImageNet's at that resolution). Figures:

* cache build: images/s with one encoding thread (and with every core);
* decode + RandomResizedCrop(224) + flip + normalise: images/s on one core, with and without
  libjpeg's DCT-domain downscaling (`draft`);
* bytes per cached image (short side capped at data.max_side = 256, quality 90);
* training images/s of resnet18-imagenet at 224 (finetune, batch 32, train.threads = 1) from the
  encoded cache (decoded by one thread, ahead of the step) and from memory; the data path's share
  of the encoded step is 1 − encoded rate / memory rate;
* the projection for ImageNet-100 and ImageNet-1k derived from these (cache size, RAM, cores).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from benchmarks.runner import BenchmarkResult, Settings, repeat
from retain.augment import Augmenter, crop_boxes
from retain.config import AugmentConfig
from retain.data import load_dataset
from retain.data.encoded_cache import open_or_build
from retain.data.imagefolder import list_image_folders

SIDE, RESIZE, MAX_SIDE = 224, 256, 256
SMALL = 64  # a small training side (Tiny-ImageNet-like, or a downsampled ImageNet), where DCT-domain scaling pays
IMAGENET = {"ImageNet-100": (126_689, 5_000), "ImageNet-1k": (1_281_167, 50_000)}
GPU_RATES = (1_000, 3_000, 10_000)  # images/s a GPU might train at (not measured here)


def make_folder(root: Path, images: int, classes: int = 10, seed: int = 0) -> Path:
    """`images` training JPEGs (and a tenth as many validation ones) of 300–500 px sides."""
    rng = np.random.default_rng(seed)
    for split, count in (("train", images), ("val", max(images // 10, classes))):
        for i in range(count):
            label = i % classes
            width, height = (int(v) for v in rng.integers(300, 501, 2))
            small = rng.integers(0, 256, (height // 16 + 1, width // 16 + 1, 3), dtype=np.uint8)
            field = np.asarray(Image.fromarray(small).resize((width, height), Image.Resampling.BICUBIC), dtype=np.int16)
            pixels = (field + rng.normal(0, 10, field.shape)).clip(0, 255).astype(np.uint8)
            path = root / split / f"n{label:08d}" / f"{i:06d}.JPEG"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels).save(path, quality=90)
    return root


def bench_build(folder: Path) -> tuple[float, float, float]:
    """(images per CPU second, CPU seconds, bytes per image) of building the cache from scratch on one thread."""
    listing = list_image_folders(folder)
    started = time.process_time()
    cache = open_or_build("encoded-bench", listing, MAX_SIDE, 1)
    seconds = time.process_time() - started
    rows = len(cache.index)
    size = int(cache.index[-1, 0] + cache.index[-1, 1])
    shutil.rmtree(cache.folder)
    return rows / seconds, seconds, size / rows


def bench_decode(folder: Path, settings: Settings, draft: bool, count: int, side: int = SIDE) -> float:
    """Images/s of decode + RandomResizedCrop(side) + flip + normalise on one thread."""
    dataset = load_dataset("imagefolder", data_dir=folder, side=side, eval_resize=RESIZE, storage="encoded",
                           max_side=MAX_SIDE, workers=1)
    images = dataset.train.images.to("cpu")
    images.draft = draft
    augmenter = Augmenter(AugmentConfig(resized_crop=True, flip=True), (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    g = torch.Generator().manual_seed(0)
    indices = torch.arange(count)

    def step() -> None:
        boxes = crop_boxes(*images.sizes(indices), g)
        augmenter.train(images.crops(indices, boxes), cropped=True)

    timing = repeat(step, settings.repeats, warmup=1, clock="cpu")
    return count / timing.median


def training_setup(folder: Path, settings: Settings, storage: str, steps: int, batch: int, side: int):
    """(method, the first task cut to `steps` batches, context) of resnet18-imagenet at `side`, data held as `storage`."""
    from benchmarks.synthetic import with_indices
    from retain.runs.config import build_config
    from retain.runs.loop import build_setup

    overrides = [
        "data.name=imagefolder", f"data.dir={folder}", f"data.storage={storage}", f"data.image_size={side}",
        f"data.max_side={MAX_SIDE}", "data.workers=1", "augment.resized_crop=true", "augment.flip=true",
        f"augment.eval_resize={RESIZE}", "augment.mean=[0.485, 0.456, 0.406]", "augment.std=[0.229, 0.224, 0.225]",
        "method.name=finetune", "model.backbone=resnet18-imagenet", "model.options={}", "scenario.increment=5",
        "scenario.order=natural", "train.epochs=1", f"train.batch_size={batch}", "train.threads=1",
        "logging.report=false", "logging.tensorboard=false", "memory.budget=null", f"device={settings.device}",
    ]
    setup = build_setup(build_config(preset="demo", overrides=overrides, seed=0))
    task = setup.plan.tasks[0]
    task = with_indices(task, task.train_indices[: steps * batch])
    setup.method.before_task(task)
    return setup.method, task, setup.ctx


def bench_training(folder: Path, settings: Settings, steps: int, batch: int, side: int) -> dict[str, float]:
    """Training images per CPU second (all threads of the process: the step and the decoding) from
    memory and from the encoded cache, timed in turns."""
    from benchmarks.runner import interleaved
    from retain.engine import trainer

    runs = {storage: training_setup(folder, settings, storage, steps, batch, side) for storage in ("memory", "encoded")}
    clock = "wall" if torch.device(settings.device).type == "cuda" else "cpu"
    timings = interleaved({name: (lambda r=r: trainer.train_task(*r)) for name, r in runs.items()},
                          settings.repeats, warmup=1, sync=settings.device, clock=clock)
    return {name: steps * batch / timing.median for name, timing in timings.items()}


def projection(per_core: float, bytes_per_image: float) -> list[dict]:
    """Cache size, RAM and cores to feed a GPU, for ImageNet-100 and ImageNet-1k, from the measured rates."""
    rows = []
    for name, (train, val) in IMAGENET.items():
        images = train + val
        row = {"dataset": name, "images": images, "cache GB": images * bytes_per_image / 1e9,
               "decoded in memory GB": images * 3 * SIDE * SIDE / 1e9}
        for rate in GPU_RATES:
            row[f"cores for {rate:,} img/s"] = rate / per_core
        rows.append(row)
    return rows


def run_benchmark(settings: Settings) -> BenchmarkResult:
    """Every figure of the module docstring, on a freshly generated folder (removed afterwards)."""
    images = settings.images or (20 if settings.tiny else 400 if settings.quick else 2000)
    work = Path(tempfile.mkdtemp(prefix="retain-encoded-bench-"))
    previous = os.environ.get("RETAIN_DATA")
    os.environ["RETAIN_DATA"] = str(work / "cache")
    try:
        folder = make_folder(work / "folder", images)
        build_one, build_seconds, per_image = bench_build(folder)
        count = min(images, 64 if settings.tiny else 256)
        with_draft = bench_decode(folder, settings, True, count)
        without = bench_decode(folder, settings, False, count)
        small_draft = bench_decode(folder, settings, True, count, side=SMALL)
        small_without = bench_decode(folder, settings, False, count, side=SMALL)
        # The smoke test's sizes (tiny) train at 32 px: the figures are meaningless there anyway.
        steps, batch, side = (1, 4, 32) if settings.tiny else (2, 32, SIDE)
        rates = bench_training(folder, settings, steps, batch, side)
        memory_rate, encoded_rate = rates["memory"], rates["encoded"]
    finally:
        if previous is None:
            os.environ.pop("RETAIN_DATA", None)
        else:
            os.environ["RETAIN_DATA"] = previous
        shutil.rmtree(work, ignore_errors=True)
    columns = ["figure", "value", "unit"]
    result = BenchmarkResult("encoded_data", columns)
    result.rows += [
        {"figure": "cache build (decode, resize, re-encode)", "value": build_one, "unit": "images per CPU second"},
        {"figure": "bytes per cached image (short side <= 256, q90)", "value": per_image, "unit": "bytes"},
        {"figure": "decode + RandomResizedCrop(224) + flip + normalise, draft on", "value": with_draft, "unit": "images/s per core"},
        {"figure": "the same, draft off (full-size decode)", "value": without, "unit": "images/s per core"},
        {"figure": f"decode + RandomResizedCrop({SMALL}) + flip + normalise, draft on", "value": small_draft, "unit": "images/s per core"},
        {"figure": f"the same at {SMALL}, draft off", "value": small_without, "unit": "images/s per core"},
        {"figure": f"resnet18-imagenet training at {side} (finetune, batch {batch}), from memory", "value": memory_rate, "unit": "images per CPU second"},
        {"figure": f"the same, encoded (decoded ahead by 1 thread)", "value": encoded_rate, "unit": "images per CPU second"},
        {"figure": "the data path's share of the encoded step's CPU time (1 − encoded / memory)", "value": 1 - encoded_rate / memory_rate, "unit": ""},
    ]
    result.summary["decode + augment images/s per core at 224"] = with_draft
    for row in projection(with_draft, per_image):
        cores = " / ".join(f"{row[f'cores for {rate:,} img/s']:.1f}" for rate in GPU_RATES)
        result.notes.append(
            f"projection, {row['dataset']}: {row['images']:,} images; cache {row['cache GB']:.1f} GB (decoded in memory: "
            f"{row['decoded in memory GB']:.1f} GB); CPU cores to feed {' / '.join(f'{r:,}' for r in GPU_RATES)} img/s: {cores}")
    result.notes += [
        f"{images} generated training JPEGs (+{max(images // 10, 10)} validation), sides 300–500 px, quality 90; "
        f"cache build of all {images + max(images // 10, 10)} in {build_seconds:.1f} CPU seconds on one thread;",
        "every rate is per CPU second of the process (process_time: every thread's CPU time, the decode threads' "
        "included), so it is the cost per core whatever else loads the machine; on an idle machine with a core to "
        "spare the decoding runs beside the step and the wall-clock step time is the in-memory one;",
        "training: train.threads = 1, memory and encoded timed in turns (benchmarks.runner.interleaved);",
        "projection: cores = GPU images/s ÷ decode rate per core (draft on); cache GB = images × bytes per image; "
        "decoded in memory GB = images × 3 × 224 × 224 (the in-memory path).",
    ]
    return result
