"""Memory operations: retain's code against bare tensors and against the straightforward version.

Each row times one operation three ways where they exist: retain's own call (with its store,
columns, budget checks and policy dispatch), a *bare-tensor* baseline doing the same
algorithm's essential work with plain tensors and no bookkeeping (the floor: "retain ÷ bare"
is retain's bookkeeping cost), and the *straightforward* per-item version other libraries
write (where retain's vectorisation pays off):

* herding (iCaRL): ranking alone, vs the plain formula of PyCIL; and a whole class-balanced
  memory rebuild (`rebuild_class_balanced` with herding orders) vs herding + a buffer write;
* reservoir, balanced reservoir and GDumb's class-balanced insertion: `insert_stream` over a
  stream in batches, vs the slot arithmetic + one buffer write per batch, vs a per-item loop;
* Rainbow Memory uncertainty: the 12 `vr` perturbations on the whole candidate batch
  (`perturbed_predictions` + `variation_ratio`), vs the same with torch.mode, vs one image at a time;
* MAER's memorization proxy: `MemorizationProxy.observe` per batch over a task and `ordered()`,
  vs the same stamps in bare tensors, vs a Python list kept in order;
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
from retain.methods.memorization_proxy import MemorizationProxy
from retain.models import IncrementalNet, build_backbone


def _row(operation: str, size: str, unit: str, retain_rate: float, bare_rate: float | None,
         plain_rate: float | None, agree: str) -> dict:
    return {
        "operation": operation,
        "size": size,
        "unit": unit,
        "retain": retain_rate,
        "bare tensors": bare_rate,
        "retain ÷ bare": retain_rate / bare_rate if bare_rate else None,
        "straightforward": plain_rate,
        "retain ÷ straightforward": retain_rate / plain_rate if plain_rate else None,
        "same result": agree,
    }


def _memory(policy: str, capacity: int, shape: tuple[int, ...]) -> ExemplarMemory:
    config = MemoryConfig(budget=f"{capacity} images", policy=policy)
    return ExemplarMemory(config, shape, "cpu", budget_bytes=capacity * math.prod(shape), seed=0)


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


def herding_sizes(settings: Settings) -> tuple[int, int, int, int]:
    return (2, 50, 16, 5) if settings.tiny else (10, 500, 64, 20)


def bench_herding(settings: Settings) -> dict:
    classes, per_class, dim, m = herding_sizes(settings)
    g = torch.Generator().manual_seed(0)
    features = F.normalize(torch.randn(classes, per_class, dim, generator=g, dtype=torch.float64), dim=2)
    vectorised = repeat(lambda: [herding_order(f, m) for f in features], settings.repeats, clock=settings.clock)
    plain = repeat(lambda: [herding_plain(f.numpy(), m) for f in features], settings.repeats, clock=settings.clock)
    same = all(herding_order(f, m).tolist() == herding_plain(f.numpy(), m) for f in features)
    return _row("herding (iCaRL) ranking", f"{classes * per_class}×{dim}-d → {m}/class", "classes/s",
                classes / vectorised.median, None, classes / plain.median, "yes" if same else "NO")


def bench_herding_rebuild(settings: Settings) -> dict:
    """A class-balanced memory rebuild with herding orders: the memory's call vs herding + a buffer write."""
    classes, per_class, dim, m = herding_sizes(settings)
    shape = (3, 32, 32)
    g = torch.Generator().manual_seed(0)
    features = F.normalize(torch.randn(classes, per_class, dim, generator=g), dim=2)
    images = torch.randint(0, 256, (classes, per_class, *shape), generator=g, dtype=torch.uint8)
    candidates = {c: images[c] for c in range(classes)}

    def retain_rebuild() -> torch.Tensor:
        memory = _memory("herding", classes * m, shape)
        memory.rebuild_class_balanced(candidates, list(range(classes)), task=0,
                                      order_fn=lambda c, x: herding_order(features[c], m))
        return memory.store.gather(torch.arange(len(memory.store)))

    def bare() -> torch.Tensor:
        buffer = torch.empty((classes * m, *shape), dtype=torch.uint8)
        for c in range(classes):
            buffer[c * m : (c + 1) * m] = images[c].index_select(0, herding_order(features[c], m))
        return buffer

    fast, floor = (repeat(fn, settings.repeats, clock=settings.clock) for fn in (retain_rebuild, bare))
    same = torch.equal(retain_rebuild(), bare())
    return _row("herding memory rebuild (iCaRL)", f"{classes} classes × {per_class} CIFAR images → {m}/class", "classes/s",
                classes / fast.median, classes / floor.median, None, "yes" if same else "NO")


# ---------------------------------------------------------------- streaming insertion
def stream_sizes(settings: Settings) -> tuple[int, int, int]:
    return (100, 10, 50) if settings.tiny else (10_000, 32, 2_000)


def class_incremental_labels(stream: int, seed: int = 0) -> torch.Tensor:
    """5 tasks × 2 classes, shuffled inside each task (GDumb's and ER's stream order)."""
    g = torch.Generator().manual_seed(seed)
    per_task = stream // 5
    return torch.cat([2 * t + torch.randperm(per_task, generator=g) % 2 for t in range(5)])


def reservoir_targets(num_seen: int, uniforms: np.ndarray, capacity: int) -> np.ndarray:
    """Bare reservoir arithmetic: the slot each item writes (−1: discarded)."""
    n = num_seen + np.arange(uniforms.size)
    draws = np.minimum(np.floor(uniforms * (n + 1)).astype(np.int64), n)
    return np.where(n < capacity, n, np.where(draws < capacity, draws, -1))


def bare_reservoir(images, labels, batch_size, capacity, balanced: bool) -> torch.Tensor:
    """The reservoir's essential work per batch on plain tensors: draws, slot arithmetic (and
    for the balanced variant, victims of the largest class), one buffer write."""
    g = torch.Generator().manual_seed(0)
    buffer = torch.zeros((capacity, *images.shape[1:]), dtype=torch.uint8)
    held = np.full(capacity, -1, dtype=np.int64)
    seen = 0
    for x, y in zip(images.split(batch_size), labels.split(batch_size)):
        uniforms = torch.rand((2 if balanced else 1, x.shape[0]), generator=g, dtype=torch.float64).numpy()
        targets = reservoir_targets(seen, uniforms[0], capacity)
        if balanced:
            ys = y.numpy()
            for i in np.flatnonzero((seen + np.arange(ys.size) >= capacity) & (targets >= 0)):
                counts = np.bincount(held[held >= 0])
                pool = np.flatnonzero(held == int(np.argmax(counts)))
                targets[i] = pool[min(int(uniforms[1][i] * pool.size), pool.size - 1)]
                held[targets[i]] = ys[i]
            filling = (targets >= 0) & (seen + np.arange(ys.size) < capacity)
            held[targets[filling]] = ys[filling]
        keep = np.flatnonzero(targets >= 0)
        buffer[torch.from_numpy(targets[keep])] = x[torch.from_numpy(keep)]
        seen += x.shape[0]
    return buffer


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


def balanced_plain(images: torch.Tensor, labels: torch.Tensor, capacity: int, seed: int) -> torch.Tensor:
    """Per item, MEM-CL style: accept like reservoir, evict from the class np.unique finds largest."""
    rng = random.Random(seed)
    buffer = torch.zeros((capacity, *images.shape[1:]), dtype=torch.uint8)
    held: list[int] = []
    for seen, (image, label) in enumerate(zip(images, labels.tolist())):
        if seen < capacity:
            buffer[seen] = image
            held.append(label)
        elif rng.randint(0, seen) < capacity:
            classes, counts = np.unique(held, return_counts=True)
            slot = rng.choice(np.flatnonzero(np.asarray(held) == classes[np.argmax(counts)]).tolist())
            buffer[slot] = image
            held[slot] = label
    return buffer


def greedy_plain(images: torch.Tensor, labels: torch.Tensor, capacity: int, seed: int) -> torch.Tensor:
    """GDumb's sampler per sample, as its reference code: counts from np.unique every time."""
    rng = random.Random(seed)
    buffer = torch.zeros((capacity, *images.shape[1:]), dtype=torch.uint8)
    held: list[int] = []
    for image, label in zip(images, labels.tolist()):
        if len(held) < capacity:
            buffer[len(held)] = image
            held.append(label)
            continue
        classes, counts = np.unique(held, return_counts=True)
        if int(counts[classes == label].sum()) >= capacity // (classes.size + int(label not in classes)):
            continue
        slot = rng.choice(np.flatnonzero(np.asarray(held) == classes[np.argmax(counts)]).tolist())
        buffer[slot] = image
        held[slot] = label
    return buffer


def greedy_bare(images: torch.Tensor, labels: torch.Tensor, batch_size: int, capacity: int) -> torch.Tensor:
    """GDumb's sampler per sample with running class counts (no np.unique), one write per sample."""
    g = torch.Generator().manual_seed(0)
    buffer = torch.zeros((capacity, *images.shape[1:]), dtype=torch.uint8)
    held = np.full(capacity, -1, dtype=np.int64)
    counts = np.zeros(int(labels.max()) + 1, dtype=np.int64)
    size = 0
    for x, y in zip(images.split(batch_size), labels.split(batch_size)):
        uniforms = torch.rand(x.shape[0], generator=g, dtype=torch.float64).numpy()
        for i, label in enumerate(y.tolist()):
            if size < capacity:
                slot, size = size, size + 1
            else:
                classes = int((counts > 0).sum()) + int(counts[label] == 0)
                if counts[label] >= capacity // classes:
                    continue
                largest = int(np.argmax(counts))
                pool = np.flatnonzero(held == largest)
                slot = int(pool[min(int(uniforms[i] * pool.size), pool.size - 1)])
                counts[largest] -= 1
            counts[label] += 1
            held[slot] = label
            buffer[slot] = x[i]
    return buffer


def bench_streaming(settings: Settings, policy: str) -> dict:
    stream, batch_size, capacity = stream_sizes(settings)
    shape = (3, 32, 32)
    images = torch.randint(0, 256, (stream, *shape), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    labels = class_incremental_labels(stream)

    def retain_insert() -> torch.Tensor:
        memory = _memory(policy, capacity, shape)
        for x, y in zip(images.split(batch_size), labels.split(batch_size)):
            memory.insert_stream(x, y, task=0)
        return memory.store.labels

    if policy == "class_balanced":
        bare = lambda: greedy_bare(images, labels, batch_size, capacity)  # noqa: E731
        plain = lambda: greedy_plain(images, labels, capacity, seed=0)  # noqa: E731
        held = retain_insert()
        agree = "balanced: " + ("yes" if int(torch.bincount(held).max() - torch.bincount(held).min()) <= 1 else "NO")
        name = "GDumb class-balanced insertion"
    else:
        balanced = policy == "balanced_reservoir"
        bare = lambda: bare_reservoir(images, labels, batch_size, capacity, balanced)  # noqa: E731
        plain = (lambda: balanced_plain(images, labels, capacity, seed=0)) if balanced else \
            (lambda: reservoir_plain(images, batch_size, capacity, seed=0))
        agree = "same distribution"
        name = "balanced reservoir insertion" if balanced else "reservoir insertion"
    fast, floor, slow = (repeat(fn, settings.repeats, clock=settings.clock) for fn in (retain_insert, bare, plain))
    return _row(name, f"{stream:,} CIFAR images, 10 classes, batch {batch_size}, K={capacity:,}", "images/s",
                stream / fast.median, stream / floor.median, stream / slow.median, agree)


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

    def bare() -> torch.Tensor:
        g = torch.Generator().manual_seed(1)
        votes = torch.stack([predict(perturb(images, g)).argmax(dim=1) for perturb in perturbations])
        agreeing = (votes == votes.mode(dim=0).values).sum(dim=0)
        return 1.0 - agreeing.float() / len(perturbations)

    def plain() -> list[float]:
        g = torch.Generator().manual_seed(1)
        votes = []
        for perturb in perturbations:  # one image at a time through each transform, one batched forward
            batch = torch.cat([perturb(image[None], g) for image in images])
            votes.append(predict(batch).argmax(dim=1).tolist())
        return [1.0 - max(Counter(column).values()) / len(perturbations) for column in zip(*votes)]

    fast, floor, slow = (repeat(fn, settings.repeats, clock=settings.clock) for fn in (vectorised, bare, plain))
    same = torch.equal(vectorised(), bare())
    return _row("Rainbow uncertainty (12 vr perturbations)", f"{count} CIFAR images, ResNet-32", "images/s",
                count / fast.median, count / floor.median, count / slow.median,
                "yes (bare); same distribution (per image)" if same else "NO")


# ---------------------------------------------------------------- MAER's memorization proxy
def proxy_batches(settings: Settings) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """One task's epochs of (dataset indices, pre-step correctness) batches, 10 epochs."""
    samples, batch_size, epochs = (64, 16, 2) if settings.tiny else (10_000, 32, 10)
    g = torch.Generator().manual_seed(0)
    learned = torch.rand(samples, generator=g)  # sample i is predicted correctly with rising odds
    batches = []
    for epoch in range(epochs):
        for indices in torch.randperm(samples, generator=g).split(batch_size):
            batches.append((indices, torch.rand(indices.numel(), generator=g) < learned[indices] * (epoch + 1) / epochs))
    return batches


def bench_proxy(settings: Settings) -> dict:
    batches = proxy_batches(settings)
    samples = 1 + max(int(i.max()) for i, _ in batches)

    def retain_proxy() -> torch.Tensor:
        proxy = MemorizationProxy(samples)
        for indices, correct in batches:
            proxy.observe(indices, correct)
        return proxy.ordered()[0]

    def bare() -> torch.Tensor:
        stamps = torch.full((samples,), -1, dtype=torch.int64)
        for step, (indices, correct) in enumerate(batches):
            current = stamps[indices]
            fresh = (step << 20) + torch.arange(indices.numel())
            stamps[indices] = torch.where(correct, torch.where(current >= 0, current, fresh), -1)
        listed = torch.nonzero(stamps >= 0).flatten()
        return listed[torch.argsort(stamps[listed])]

    def plain() -> list[int]:
        ordered: dict[int, None] = {}  # insertion-ordered: the list L_t
        for indices, correct in batches:
            for index, hit in zip(indices.tolist(), correct.tolist()):
                if not hit:
                    ordered.pop(index, None)
                elif index not in ordered:
                    ordered[index] = None
        return list(ordered)

    fast, floor, slow = (repeat(fn, settings.repeats, clock=settings.clock) for fn in (retain_proxy, bare, plain))
    same = retain_proxy().tolist() == bare().tolist() == plain()
    steps = len(batches)
    return _row("MAER memorization proxy (observe + order)", f"{samples:,} samples, {steps:,} batches", "batches/s",
                steps / fast.median, steps / floor.median, steps / slow.median, "yes" if same else "NO")


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
                rows.append(_row(f"JPEG q75 {backend}", f"{side}×{side}", "images/s", float("nan"), None, None, "not installed"))
                continue
            codec = JpegCodec(75, backend=backend)
            encoded = codec.encode(images)
            encode = repeat(lambda: codec.encode(images), settings.repeats, clock=settings.clock)
            decode = repeat(lambda: codec.decode(encoded, 3), settings.repeats, clock=settings.clock)
            both = count / (encode.median + decode.median)
            mean_bytes = sum(len(r) for r in encoded) / count
            rows.append({
                "operation": f"JPEG q75 encode+decode, {backend}",
                "size": f"{count} images {side}×{side}, {mean_bytes:,.0f} B each",
                "unit": "images/s",
                "retain": both,
                "bare tensors": None,
                "retain ÷ bare": None,
                "straightforward": None,
                "retain ÷ straightforward": None,
                "same result": f"encode {count / encode.median:,.0f}/s, decode {count / decode.median:,.0f}/s",
            })
    return rows


COLUMNS = [
    "operation", "size", "unit", "retain", "bare tensors", "retain ÷ bare", "straightforward",
    "retain ÷ straightforward", "same result",
]


def run_benchmark(settings: Settings) -> BenchmarkResult:
    result = BenchmarkResult("memory", COLUMNS)
    result.rows += [bench_herding(settings), bench_herding_rebuild(settings)]
    result.rows += [bench_streaming(settings, policy) for policy in ("reservoir", "balanced_reservoir", "class_balanced")]
    result.rows += [bench_uncertainty(settings), bench_proxy(settings)]
    result.rows += bench_jpeg(settings)
    result.notes += [
        "rates: items per second (higher is better); retain ÷ bare < 1 is retain's bookkeeping cost (store columns, "
        "budget checks, codec, policy dispatch), retain ÷ straightforward > 1 is what vectorisation gains;",
        "herding ranking: retain.memory.policies.herding_order (float64, one mat-vec per step) vs PyCIL's per-step "
        "norm of every running mean; herding rebuild: ExemplarMemory.rebuild_class_balanced vs herding + index_select "
        "into a buffer;",
        "insertion: ExemplarMemory.insert_stream (raw rows) vs the slot arithmetic and one buffer write per batch (bare) "
        "vs a per-item Python loop (Mammoth's reservoir, MEM-CL's balanced reservoir, GDumb's np.unique greedy);",
        "uncertainty: perturbed_predictions + variation_ratio vs the same with torch.mode vs per-image perturbation "
        "calls (all with one batched forward per perturbation);",
        "MAER proxy: MemorizationProxy.observe per batch + ordered() vs the same stamps inline vs an ordered dict;",
        "JPEG: retain.memory.codecs.JpegCodec(75) on photo-like synthetic images; there is no slower alternative to compare.",
    ]
    return result
