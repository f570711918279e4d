"""Evaluation: one pass over the seen-class test set per task, every score set from one forward."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

from retain.engine.context import RunContext
from retain.engine.batch import STREAM_PASS
from retain.engine.protocol import TrainableMethod as Method  # the engine's view of a method
from retain.engine.task_aware import TASK_AWARE_SUFFIX, mask_to_own_task
from retain.errors import MethodError
from retain.scenarios import TaskSpec


@dataclass
class ScoreAccuracy:
    """Accuracies of one score set (e.g. "cnn" or "nme") after one task, in percent."""

    per_task: list[float]      # column j = accuracy on task j's classes, j <= t
    top1: float                # on all classes evaluated now
    top5: float


@dataclass
class EvalResult:
    """Everything measured by one evaluation pass."""

    scores: dict[str, ScoreAccuracy] = field(default_factory=dict)
    seconds: float = 0.0


def _hits(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """(rows, 2) bool: top-1 hit, top-5 hit of each row."""
    top1_hit = scores.argmax(dim=1) == labels
    k = min(5, scores.shape[1])
    top5_hit = (scores.topk(k, dim=1).indices == labels[:, None]).any(dim=1)
    return torch.stack([top1_hit, top5_hit], dim=1)


def _from_hits(hits: torch.Tensor, column_masks: list[torch.Tensor]) -> ScoreAccuracy:
    top1_hit, top5_hit = hits[:, 0], hits[:, 1]
    per_task = [float(top1_hit[m].float().mean() * 100) if m.any() else float("nan") for m in column_masks]
    return ScoreAccuracy(
        per_task=per_task,
        top1=float(top1_hit.float().mean() * 100),
        top5=float(top5_hit.float().mean() * 100),
    )


@torch.inference_mode()
def check_scores(method: Method, name: str, scores: object, rows: int, seen: int, classes: int) -> None:
    """A method's `predict` gives one row per image and a column per class seen so far (up to every
    class of the run, for a full head); anything else stops the run naming the method."""
    shape = tuple(scores.shape) if isinstance(scores, torch.Tensor) else None
    if shape is None or len(shape) != 2 or shape[0] != rows or not seen <= shape[1] <= classes:
        got = f"a tensor of shape {shape}" if shape is not None else f"a {type(scores).__name__}"
        raise MethodError(
            f"Method {method.name!r} ({type(method).__module__}.{type(method).__qualname__}.predict) returned {got} as "
            f"its {name!r} for {rows} test images after learning {seen} classes; predict must return one row per image "
            f"and one column per class seen so far ({seen}..{classes} columns). Fix the method's predict; the run "
            "stopped before this task's accuracy was recorded."
        )


def evaluate(method: Method, task: TaskSpec, ctx: RunContext) -> EvalResult:
    """Accuracy of every score set the method predicts, on the test samples of `task`."""
    started = time.perf_counter()
    test = ctx.dataset.test
    indices = torch.as_tensor(task.test_indices, device=test.images.device)
    labels = test.labels[indices]
    group = ctx.dist
    # Distributed: each rank scores its contiguous part of the test set; the rows' hits are gathered.
    local = indices if group is None else indices[slice(*group.bounds(indices.numel()))]
    method.network.eval()
    collected: dict[str, list[torch.Tensor]] = {}
    batch_size = ctx.config.eval.batch_size
    for chunk in local.split(batch_size):
        images = ctx.augmenter.eval(test.images[chunk])
        if ctx.config.train.channels_last and images.shape[1] > 1:
            images = images.contiguous(memory_format=torch.channels_last)
        with ctx.autocast():
            prediction = method.predict(images)
        for name, scores in [("logits", prediction.logits), *prediction.scores.items()]:
            check_scores(method, name, scores, len(chunk), len(task.seen_classes), ctx.plan.num_classes)
        collected.setdefault("cnn", []).append(prediction.logits.float())
        for name, scores in prediction.scores.items():
            collected.setdefault(name, []).append(scores.float())
    method.network.train()
    # Columns of the accuracy matrix: the classes of each task up to this one, and of later tasks
    # whose classes are already tested (a blurry run tests every class from task 1 on; RM's
    # forgetting takes the maximum over all earlier rows, those before the column's task included).
    class_task = torch.full((ctx.plan.num_classes,), -1, dtype=torch.long, device=labels.device)
    for j, classes in enumerate(ctx.plan.task_classes):
        class_task[torch.as_tensor(classes, device=labels.device)] = j
    label_task = class_task[labels]
    tested = set(torch.unique(label_task).tolist())
    columns = task.index + 1
    while columns < len(ctx.plan.task_classes) and columns in tested:
        columns += 1
    masks = [label_task == j for j in range(columns)]
    local_rows = slice(0, labels.numel()) if group is None else slice(*group.bounds(labels.numel()))
    local_labels, local_label_task = labels[local_rows], label_task[local_rows]
    hits: dict[str, torch.Tensor] = {}
    for name, parts in collected.items():
        scores = torch.cat(parts) if parts else torch.empty(0, 1)
        hits[name] = _hits(scores, local_labels.to(scores.device))
    if ctx.config.eval.task_incremental:  # next to each score set: the same scores with the task known
        for name, parts in collected.items():
            masked = mask_to_own_task(torch.cat(parts), class_task, local_label_task)
            hits[name + TASK_AWARE_SUFFIX] = _hits(masked, local_labels.to(masked.device))
    if group is not None:  # one all-gather of every score set's hits, rows in rank (= test set) order
        names = list(hits)
        stacked = group.gather_rows(torch.cat([hits[n].cpu().to(torch.uint8) for n in names], dim=1)).bool()
        hits = {n: stacked[:, 2 * i : 2 * i + 2] for i, n in enumerate(names)}
    result = EvalResult()
    for name, values in hits.items():
        result.scores[name] = _from_hits(values.to(labels.device), masks)
    result.seconds = time.perf_counter() - started
    return result


def evaluating_each_epoch(on_epoch, method: Method, task: TaskSpec, ctx: RunContext, best: list[float]):
    """Wrap an epoch callback so that every epoch also evaluates and appends the primary score's top-1
    to `best` (eval.every_epoch: RM's max-over-epochs accuracy, a test-set-selected number).

    The online protocol's one-epoch stream pass is not scored: RM keeps the accuracy returned by
    the memory-only training call and discards the stream pass's (`main.py`)."""

    def callback(phase: str, epoch: int, epochs: int, loss: float, lr: float) -> None:
        if phase != STREAM_PASS:
            scores = evaluate(method, task, ctx).scores
            best.append(scores.get(method.primary_score, scores["cnn"]).top1)
        if on_epoch is not None:
            on_epoch(phase, epoch, epochs, loss, lr)

    return callback
