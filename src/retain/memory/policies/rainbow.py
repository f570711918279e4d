"""Rainbow Memory's selection (spec §3.4): variation ratio, stride selection, RM's update rule.

The uncertainty of a candidate is the variation ratio of the model's predictions over T_p
perturbed copies; each class keeps k = ⌊K/|C|⌋ candidates taken at equal strides over the
ranking from most certain to least certain. The predictions need the model, so the method
computes them (retain.methods.rainbow) and this module only ranks and selects.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from retain.memory.policies.registry import MemoryPolicy, register_policy

RankFn = Callable[[int, torch.Tensor], torch.Tensor]


def variation_ratio(predictions: torch.Tensor) -> torch.Tensor:
    """u(x) = 1 − max_c count_c / T_p for predictions of shape (T_p, N) (class ids); returns (N,).

    0 when every perturbation gives the same class, (T_p − 1)/T_p when all differ.
    """
    if predictions.dim() != 2 or predictions.shape[0] == 0:
        raise ValueError(f"predictions must have shape (T_p >= 1, N), got {tuple(predictions.shape)}")
    num_perturbations, count = predictions.shape
    if count == 0:
        return torch.empty(0, dtype=torch.float32, device=predictions.device)
    width = int(predictions.max()) + 1
    votes = torch.zeros(count, width, dtype=torch.int64, device=predictions.device)
    votes.scatter_add_(1, predictions.t().long(), torch.ones_like(predictions.t(), dtype=torch.int64))
    return 1.0 - votes.max(dim=1).values.float() / num_perturbations


def perturbed_predictions(
    predict: Callable[[torch.Tensor], torch.Tensor],
    images: torch.Tensor,
    perturbations: Sequence[Callable[[torch.Tensor, torch.Generator], torch.Tensor]],
    generator: torch.Generator,
    chunk: int = 4096,
) -> torch.Tensor:
    """Predicted classes (T_p, N) of uint8 `images` under each perturbation.

    Each perturbation acts on the uint8 images (RM applies it before the test transform);
    `predict` maps a uint8 batch to logits (the method runs its network in eval mode there).
    """
    rows = []
    for perturb in perturbations:
        parts = [predict(perturb(part, generator)).argmax(dim=1) for part in images.split(chunk)]
        rows.append(torch.cat(parts) if parts else torch.empty(0, dtype=torch.int64, device=images.device))
    return torch.stack(rows)


def stride_positions(count: int, k: int) -> torch.Tensor:
    """Ranks kept from a ranking of `count`: every j-th with j = ⌊count/k⌋ (0, j, 2j, …), the first k;
    all of them when count ≤ k."""
    if k <= 0:
        return torch.arange(0)
    if count <= k:
        return torch.arange(count)
    step = count // k
    return torch.arange(0, step * k, step)


def stride_order(uncertainty: torch.Tensor, k: int) -> torch.Tensor:
    """Priority order of one class's candidates: the k stride picks over the ranking by ascending
    uncertainty (ties keep candidate order), then every other candidate in ranking order."""
    ranking = torch.argsort(uncertainty.detach().cpu(), stable=True)
    picked = stride_positions(ranking.numel(), k)
    rest = torch.ones(ranking.numel(), dtype=torch.bool)
    rest[picked] = False
    return torch.cat([ranking[picked], ranking[rest]])


def rm_memory_update(
    labels: torch.Tensor,
    capacity: int,
    classes: Sequence[int],
    generator: torch.Generator,
    rank: RankFn | None = None,
) -> torch.Tensor:
    """Positions (into the candidates) that RM keeps: candidates = this task's stream ∪ memory.

    If there are at most `capacity` candidates, all of them. Otherwise each class keeps its
    first k = ⌊capacity/|classes|⌋ in `rank(class, positions)` order (uniformly random when
    `rank` is None: RM's task-1 equal-class sampling), classes with fewer keep all, and the
    slots left over are filled uniformly at random from the unselected candidates, so
    min(capacity, candidates) are kept.
    """
    labels = labels.detach().cpu()
    count = labels.numel()
    if count <= capacity:
        return torch.arange(count)
    k = capacity // max(len(classes), 1)
    chosen = []
    for c in classes:
        positions = torch.nonzero(labels == int(c)).flatten()
        if positions.numel() <= k:
            chosen.append(positions)
            continue
        order = torch.randperm(positions.numel(), generator=generator) if rank is None else rank(int(c), positions)
        chosen.append(positions[torch.as_tensor(order, dtype=torch.int64)[:k]])
    selected = torch.cat(chosen) if chosen else torch.empty(0, dtype=torch.int64)
    missing = capacity - selected.numel()
    if missing > 0:  # RM logs this as "breaking the equilibrium"
        free = torch.ones(count, dtype=torch.bool)
        free[selected] = False
        spare = torch.nonzero(free).flatten()
        selected = torch.cat([selected, spare[torch.randperm(spare.numel(), generator=generator)[:missing]]])
    return selected


@register_policy("rainbow")
class RainbowPolicy(MemoryPolicy):
    """RM's diversity-aware selection: per class, equal strides over the uncertainty ranking.

    `order` needs `scores` = the candidates' variation ratios and `limit` = the class quota k.
    """

    needs_uncertainty = True

    def order(self, count, generator, features=None, limit=None, scores=None):
        if scores is None:
            raise ValueError(
                "memory.policy='rainbow' ranks by uncertainty: use it with method.name=rainbow "
                "(or a method that computes the candidates' variation ratios)"
            )
        if scores.numel() != count:
            raise ValueError(f"rainbow: {scores.numel()} uncertainty scores for {count} candidates")
        return stride_order(scores, count if limit is None else int(limit))
