"""Memory operations, retain's vectorised code against the straightforward version.

* herding (iCaRL): retain's one-matrix-vector-product-per-step ranking vs the plain formula
  (recompute every candidate's running mean each step, as PyCIL does);
* reservoir insertion: `ExemplarMemory.insert_stream` (one batch, sequential semantics, one
  write) vs a per-item Python loop writing one image at a time (Mammoth's Buffer);
* Rainbow Memory uncertainty: the 12 `vr` perturbations on the whole candidate batch and
  batched forwards (`perturbed_predictions` + `variation_ratio`) vs perturbing one image at a time;
* JPEG encode + decode images/s per backend at 32×32 and 224×224 (retain's JpegCodec).
"""

from __future__ import annotations

import math
import random
from collections import Counter

import numpy as np
import torch
import torch.nn.functional as F

from benchmarks.runner import BenchmarkResult, Settings, repeat
from retain.augment import rm_perturbations
from retain.memory import MemoryConfig
from retain.memory.codecs import JpegCodec
from retain.memory.codecs.jpeg_backends import BACKENDS, available
from retain.memory.exemplars import ExemplarMemory
from retain.memory.policies import herding_order
from retain.memory.policies.rainbow import perturbed_predictions, variation_ratio
from retain.models import IncrementalNet, build_backbone


def _row(operation: str, size: str, unit: str, retain_rate: float, plain_rate: float | None, agree: str) -> dict:
    return {
        "operation": operation,
        "size": size,
        "unit": unit,
        "retain (vectorised)": retain_rate,
        "straightforward": plain_rate,
        "speed-up": retain_rate / plain_rate if plain_rate else None,
        "same result": agree,
    }


# ---------------------------------------------------------------- herding
def herding_plain(features: np.ndarray, m: int) -> list[int]:
    """The plain formula: step k picks argmin_i ‖μ − (S + φ_i)/k‖ over the unpicked i."""
    mu = features.mean(axis=0)
    running = np.zeros_like(mu)
    picked: list[int] = []
    for k in range(1, min(m, len(features)) + 1):
        distances = np.linalg.norm(mu - (running + features) / k, axis=1)
        distances[picked] = np.inf
        i = int(np.argmin(distances))
        picked.append(i)
        running += features[i]
    return picked


def bench_herding(settings: Settings) -> dict:
    classes, per_class, dim, m = (2, 50, 16, 5) if settings.tiny else (10, 500, 64, 20)
    g = torch.Generator().manual_seed(0)
    features = F.normalize(torch.randn(classes, per_class, dim, generator=g, dtype=torch.float64), dim=2)
    vectorised = repeat(lambda: [herding_order(f, m) for f in features], settings.repeats)
    plain = repeat(lambda: [herding_plain(f.numpy(), m) for f in features], settings.repeats)
    same = all(herding_order(f, m).tolist() == herding_plain(f.numpy(), m) for f in features)
    return _row("herding (iCaRL)", f"{classes * per_class}×{dim}-d → {m}/class", "classes/s",
                classes / vectorised.median, classes / plain.median, "yes" if same else "NO")


# ---------------------------------------------------------------- reservoir
def reservoir_plain(images: torch.Tensor, batch_size: int, capacity: int, seed: int) -> torch.Tensor:
    """Per item: n < K writes slot n, else r ~ U{0..n} replaces slot r when r < K."""
    rng = random.Random(seed)
    buffer = torch.zeros((capacity, *images.shape[1:]), dtype=torch.uint8)
    seen = 0
    for batch in images.split(batch_size):
        for image in batch:
            if seen < capacity:
                buffer[seen] = image
            else:
                r = rng.randint(0, seen)
                if r < capacity:
                    buffer[r] = image
            seen += 1
    return buffer


def bench_reservoir(settings: Settings) -> dict:
    stream, batch_size, capacity = (100, 10, 50) if settings.tiny else (10_000, 32, 2_000)
    shape = (3, 32, 32)
    images = torch.randint(0, 256, (stream, *shape), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    labels = torch.arange(stream) % 10
    config = MemoryConfig(budget=f"{capacity} images", policy="reservoir")

    def vectorised() -> None:
        memory = ExemplarMemory(config, shape, "cpu", budget_bytes=capacity * math.prod(shape), seed=0)
        for x, y in zip(images.split(batch_size), labels.split(batch_size)):
            memory.insert_stream(x, y, task=0)
        assert len(memory.store) == capacity

    fast = repeat(vectorised, settings.repeats)
    plain = repeat(lambda: reservoir_plain(images, batch_size, capacity, seed=0), settings.repeats)
    return _row("reservoir insertion", f"{stream:,} CIFAR images, batch {batch_size}, K={capacity:,}",
                "images/s", stream / fast.median, stream / plain.median, "same distribution")


# ---------------------------------------------------------------- rainbow uncertainty
def bench_uncertainty(settings: Settings) -> dict:
    count = 8 if settings.tiny else (64 if settings.quick else 256)
    torch.manual_seed(0)
    backbone = build_backbone("mlp", in_channels=3, image_size=32, hidden=[32]) if settings.tiny else \
        build_backbone("resnet32", in_channels=3, image_size=32)
    network = IncrementalNet(backbone, 10).eval()
    images = torch.randint(0, 256, (count, 3, 32, 32), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    perturbations = rm_perturbations()

    @torch.inference_mode()
    def predict(batch: torch.Tensor) -> torch.Tensor:
        return network(batch.float().div(255.0))["logits"]

    def vectorised() -> torch.Tensor:
        return variation_ratio(perturbed_predictions(predict, images, perturbations, torch.Generator().manual_seed(1)))

    def plain() -> list[float]:
        g = torch.Generator().manual_seed(1)
        votes = []
        for perturb in perturbations:  # one image at a time through each transform, one batched forward
            batch = torch.cat([perturb(image[None], g) for image in images])
            votes.append(predict(batch).argmax(dim=1).tolist())
        return [1.0 - max(Counter(column).values()) / len(perturbations) for column in zip(*votes)]

    fast = repeat(vectorised, settings.repeats)
    slow = repeat(plain, settings.repeats)
    return _row("Rainbow uncertainty (12 vr perturbations)", f"{count} CIFAR images, ResNet-32",
                "images/s", count / fast.median, count / slow.median, "same distribution")


# ---------------------------------------------------------------- JPEG
def smooth_images(count: int, side: int, seed: int = 0) -> torch.Tensor:
    """Photo-like uint8 images: low-frequency colour fields plus mild noise (noise alone would
    make JPEG files unrealistically large and slow)."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(count, 3, 6, 6, generator=g)
    fields = F.interpolate(coarse, size=(side, side), mode="bicubic", align_corners=False)
    noisy = fields * 255 + torch.randn(count, 3, side, side, generator=g) * 6
    return noisy.round().clamp(0, 255).to(torch.uint8)


def bench_jpeg(settings: Settings) -> list[dict]:
    rows = []
    for side, count in ((32, 8 if settings.tiny else 2000), (224, 1 if settings.tiny else 100)):
        images = smooth_images(count, side)
        for backend in BACKENDS:
            if not available(backend):
                rows.append(_row(f"JPEG q75 {backend}", f"{side}×{side}", "images/s", float("nan"), None, "not installed"))
                continue
            codec = JpegCodec(75, backend=backend)
            encoded = codec.encode(images)
            encode = repeat(lambda: codec.encode(images), settings.repeats)
            decode = repeat(lambda: codec.decode(encoded, 3), settings.repeats)
            both = count / (encode.median + decode.median)
            mean_bytes = sum(len(r) for r in encoded) / count
            rows.append({
                "operation": f"JPEG q75 encode+decode, {backend}",
                "size": f"{count} images {side}×{side}, {mean_bytes:,.0f} B each",
                "unit": "images/s",
                "retain (vectorised)": both,
                "straightforward": None,
                "speed-up": None,
                "same result": f"encode {count / encode.median:,.0f}/s, decode {count / decode.median:,.0f}/s",
            })
    return rows


COLUMNS = ["operation", "size", "unit", "retain (vectorised)", "straightforward", "speed-up", "same result"]


def run_benchmark(settings: Settings) -> BenchmarkResult:
    result = BenchmarkResult("memory", COLUMNS)
    result.rows += [bench_herding(settings), bench_reservoir(settings), bench_uncertainty(settings)]
    result.rows += bench_jpeg(settings)
    result.notes += [
        "herding: retain.memory.policies.herding_order (float64, one mat-vec per step) vs PyCIL's per-step norm of every running mean;",
        "reservoir: ExemplarMemory.insert_stream (policy reservoir, raw rows, budget checks included) vs a per-item loop;",
        "uncertainty: retain.memory.policies.rainbow.perturbed_predictions + variation_ratio vs per-image perturbation calls "
        "(both with one batched forward per perturbation);",
        "JPEG: retain.memory.codecs.JpegCodec(75) on photo-like synthetic images; there is no slower alternative to compare.",
    ]
    return result
