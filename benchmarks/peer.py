"""retain against a plain PyTorch loop on the same protocol, in one process, timed in turns.

Split-Fashion-MNIST 5×2 (the Debian package's files; synthetic rows of the same shape when
they are absent), MLP 784-400-400, SGD (lr 0.01, momentum 0.9), one epoch per task, at batch
128 and 16:

* finetune: each task's rows in a shuffled order;
* replay: experience replay, each step adds a minibatch of the batch size drawn from a
  500-image reservoir memory and the step's rows enter the reservoir after it.

The plain loop is what one writes by hand: index tensors, normalise each batch, forward,
backward, step, a uint8 reservoir buffer filled item by item, argmax accuracy on the seen
classes after every task. It starts from a copy of retain's freshly built network and uses
the same optimiser and the same seeded generators, draw for draw, so it trains on exactly the
same batches: both sides end with the same accuracy, which the table shows. retain's side is
its library path: `train_task`, the method's hooks and memory (with its budget checks and
NME class means), `evaluate`. Setup (data, plan, network) is outside the timing on both sides.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from benchmarks.runner import BenchmarkResult, Settings, Timing, synchronize
from benchmarks.synthetic import WORKLOADS, SyntheticRun, build_run, synthetic_dataset, with_indices
from retain.data import Dataset
from retain.engine.evaluator import evaluate
from retain.engine.trainer import train_task

BUDGET_IMAGES = 500
LR, MOMENTUM = 0.01, 0.9


@dataclass(frozen=True)
class Protocol:
    method: str           # "finetune" or "replay" (ER with a reservoir)
    batch_size: int
    tasks: int            # the first tasks of the 5×2 split
    rows_per_task: int | None = None  # None: every training row of the task


def load_data(settings: Settings) -> tuple[Dataset, str]:
    """Fashion-MNIST when its files are installed, else synthetic rows of the same shape."""
    if not settings.tiny:
        try:
            from retain.data import load_dataset

            return load_dataset("fashion-mnist", download=False), "Fashion-MNIST"
        except Exception:  # noqa: BLE001 - any missing or unreadable file: fall back
            pass
    per_class = 40 if settings.tiny else 6000
    return synthetic_dataset((1, 28, 28), num_classes=10, train_per_class=per_class, test_per_class=per_class // 6), "synthetic 28×28"


def build(protocol: Protocol, dataset: Dataset, settings: Settings) -> SyntheticRun:
    replay = protocol.method == "replay"
    return build_run(
        WORKLOADS["mlp-fmnist"], dataset, method=protocol.method, increment=2, device=settings.device, batch_size=protocol.batch_size,
        budget=f"{BUDGET_IMAGES} images" if replay else None, memory={"policy": "reservoir"} if replay else None,
        train={"lr": LR, "momentum": MOMENTUM, "weight_decay": 0.0, "schedule": "constant"},
    )


def tasks_of(run: SyntheticRun, protocol: Protocol):
    tasks = run.plan.tasks[: protocol.tasks]
    if protocol.rows_per_task is None:
        return tasks
    return [with_indices(t, t.train_indices[: protocol.rows_per_task]) for t in tasks]


# ---------------------------------------------------------------- retain
def retain_learns(run: SyntheticRun, protocol: Protocol) -> float:
    """retain's task loop; returns the last evaluation's accuracy (%) on all seen classes."""
    accuracy = float("nan")
    for task in tasks_of(run, protocol):
        run.method.before_task(task)
        train_task(run.method, task, run.ctx)
        run.method.after_task(task)
        accuracy = evaluate(run.method, task, run.ctx).scores["cnn"].top1
    return accuracy


# ---------------------------------------------------------------- the plain loop
def plain_learns(run: SyntheticRun, network: torch.nn.Module, protocol: Protocol, seed: int) -> float:
    """The same protocol written as a plain PyTorch loop over `network` (untrained copy)."""
    data, test = run.ctx.dataset.train, run.ctx.dataset.test
    device = data.images.device
    mean = torch.tensor(run.ctx.dataset.mean, device=device).view(1, -1, 1, 1)
    std = torch.tensor(run.ctx.dataset.std, device=device).view(1, -1, 1, 1)

    def normalise(x: torch.Tensor) -> torch.Tensor:
        return x.float().div_(255.0).sub_(mean).div_(std)

    sampler = torch.Generator().manual_seed(seed)
    replay = protocol.method == "replay"
    if replay:  # the reservoir: uint8 rows and labels, one uniform per offered row
        draws = torch.Generator().manual_seed(seed + 7919)
        buffer_images = torch.empty((BUDGET_IMAGES, *data.images.shape[1:]), dtype=torch.uint8, device=device)
        buffer_labels = torch.empty(BUDGET_IMAGES, dtype=torch.int64, device=device)
        held = seen = 0
    accuracy = float("nan")
    for task in tasks_of(run, protocol):
        missing = len(task.seen_classes) - network.head.num_classes
        if missing > 0:
            network.grow(missing)
        optimizer = torch.optim.SGD(network.parameters(), lr=LR, momentum=MOMENTUM)
        network.train()
        stream = torch.as_tensor(task.train_indices)
        order = stream[torch.randperm(stream.numel(), generator=sampler)].to(device)
        for indices in order.split(protocol.batch_size):
            x, y = data.images[indices], data.labels[indices]
            if replay and held:
                slots = torch.randperm(held, generator=sampler)[: protocol.batch_size].to(device)
                x, y = torch.cat([x, buffer_images[slots]]), torch.cat([y, buffer_labels[slots]])
            loss = F.cross_entropy(network(normalise(x))["logits"], y)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if replay:
                uniforms = torch.rand(indices.numel(), generator=draws, dtype=torch.float64).tolist()
                for i, u in enumerate(uniforms):
                    slot = seen if seen < BUDGET_IMAGES else min(int(u * (seen + 1)), seen)
                    if slot < BUDGET_IMAGES:
                        buffer_images[slot], buffer_labels[slot] = x[i], y[i]
                    seen += 1
                held = min(seen, BUDGET_IMAGES)
        network.eval()
        hits = 0
        with torch.inference_mode():
            test_indices = torch.as_tensor(task.test_indices, device=device)
            for chunk in test_indices.split(run.config.eval.batch_size):
                logits = network(normalise(test.images[chunk]))["logits"]
                hits += int((logits.argmax(dim=1) == test.labels[chunk]).sum())
        network.train()
        accuracy = 100.0 * hits / test_indices.numel()
    return accuracy


# ---------------------------------------------------------------- the comparison
def compare(protocol: Protocol, dataset: Dataset, settings: Settings) -> dict:
    """Both sides `repeats` times in turns (after one warm-up each); setup is not timed."""
    now = time.process_time if settings.clock == "cpu" else time.perf_counter
    seconds: dict[str, list[float]] = {"retain": [], "plain": []}
    accuracies: dict[str, float] = {}
    same_weights = True
    for repeat in range(settings.repeats + 1):
        run = build(protocol, dataset, settings)
        untrained, rng = copy.deepcopy(run.method.network), torch.get_rng_state()
        sides = [("retain", lambda: retain_learns(run, protocol)),
                 ("plain", lambda: plain_learns(run, untrained, protocol, run.config.seed))]
        for name, learn in sides if repeat % 2 == 0 else sides[::-1]:
            torch.set_rng_state(rng)  # new head rows draw from the global generator on both sides
            synchronize(settings.device)
            started = now()
            accuracies[name] = learn()
            synchronize(settings.device)
            if repeat:  # the first round warms up
                seconds[name].append(now() - started)
        trained = zip(run.method.network.state_dict().values(), untrained.state_dict().values())
        same_weights = same_weights and all(torch.equal(a, b) for a, b in trained)
    retain, plain = Timing(seconds["retain"]), Timing(seconds["plain"])
    images = sum(len(t.train_indices) for t in tasks_of(run, protocol))
    return {
        "method": protocol.method,
        "batch": protocol.batch_size,
        "tasks × epochs": f"{protocol.tasks} × 1",
        "retain s": retain.median,
        "plain loop s": plain.median,
        "retain ÷ plain": retain.median / plain.median,
        "retain img/s": images / retain.median,
        "plain img/s": images / plain.median,
        "accuracy retain / plain": f"{accuracies['retain']:.2f} / {accuracies['plain']:.2f}",
        "same weights": "yes" if same_weights else "NO",
        "spread retain / plain": f"{retain.spread:.2f} / {plain.spread:.2f}",
        "_seconds": seconds,
    }


COLUMNS = [
    "method", "batch", "tasks × epochs", "retain s", "plain loop s", "retain ÷ plain", "retain img/s", "plain img/s",
    "accuracy retain / plain", "same weights", "spread retain / plain",
]


def protocols(settings: Settings) -> list[Protocol]:
    if settings.tiny:
        return [Protocol("finetune", 16, 2, 64), Protocol("replay", 16, 2, 64)]
    tasks, rows = (2, 3000) if settings.quick else (5, None)
    return [Protocol(method, batch, tasks, rows) for method in ("finetune", "replay") for batch in (128, 16)]


def run_benchmark(settings: Settings) -> BenchmarkResult:
    result = BenchmarkResult("peer", COLUMNS)
    dataset, source = load_data(settings)
    for protocol in protocols(settings):
        result.rows.append(compare(protocol, dataset, settings))
    result.summary["largest retain ÷ plain"] = max(row["retain ÷ plain"] for row in result.rows)
    result.summary["same trained weights on both sides"] = "yes" if all(r["same weights"] == "yes" for r in result.rows) else "NO"
    result.notes += [
        f"data: {source}, 5 tasks × 2 classes in natural order; MLP 784-400-400; SGD lr {LR}, momentum {MOMENTUM}; "
        f"replay = ER with a {BUDGET_IMAGES}-image reservoir and a memory minibatch of the batch size;",
        "timed: the task loop (training, memory insertion, evaluation after each task); not timed: loading the data, "
        "building the plan and the network;",
        "retain: train_task + the method's hooks + evaluate (CNN and, for replay, NME from class means); plain: a "
        "hand-written loop on the same network copy, optimiser, generators and draws (so the same batches);",
        "both sides alternate (retain first on even rounds), one warm-up round, same torch threads.",
    ]
    return result
