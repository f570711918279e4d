"""The built-in policies: random, herding, reservoir, balanced_reservoir, class_balanced (GDumb)."""

from __future__ import annotations

import torch

from retain.errors import ConfigError
from retain.memory.policies.class_balanced import class_balanced_slots
from retain.memory.policies.herding import LUCIR_MAX_PER_CLASS, herding_order, herding_order_lucir
from retain.memory.policies.registry import MemoryPolicy, register_policy
from retain.memory.policies.reservoir import balanced_reservoir_assign, reservoir_assign


@register_policy("random")
class RandomPolicy(MemoryPolicy):
    """Uniformly random priority order within each class."""

    def order(self, count, generator, features=None, limit=None):
        return torch.randperm(count, generator=generator)


@register_policy("herding")
class HerdingPolicy(MemoryPolicy):
    """iCaRL herding on L2-normalised features (variant "lucir" for the LUCIR/MRDC form)."""

    needs_features = True

    def __init__(self, variant: str = "icarl") -> None:
        if variant not in ("icarl", "lucir"):
            raise ConfigError(f"herding variant {variant!r} is unknown; use 'icarl' or 'lucir'.")
        self.variant = variant
        # LUCIR's and MRDC's code ranks at most 500 per class (1000 steps): a larger room stays unused.
        self.rank_cap = LUCIR_MAX_PER_CLASS if variant == "lucir" else None

    def order(self, count, generator, features=None, limit=None):
        if features is None:
            raise ValueError("herding needs the candidates' features")
        m = count if limit is None else min(limit, count)
        rank = herding_order if self.variant == "icarl" else herding_order_lucir
        return rank(torch.nn.functional.normalize(features.float(), dim=1), m).cpu()


@register_policy("reservoir")
class ReservoirPolicy(MemoryPolicy):
    """Classical reservoir sampling over the stream."""

    streaming = True

    def assign(self, num_seen, batch_labels, store_labels, capacity, generator):
        return reservoir_assign(num_seen, batch_labels.numel(), capacity, generator)


@register_policy("balanced_reservoir")
class BalancedReservoirPolicy(MemoryPolicy):
    """Reservoir accept test; the victim is a random slot of the most frequent class."""

    streaming = True

    def assign(self, num_seen, batch_labels, store_labels, capacity, generator):
        return balanced_reservoir_assign(num_seen, batch_labels, store_labels, capacity, generator)


@register_policy("class_balanced")
class ClassBalancedPolicy(MemoryPolicy):
    """GDumb's greedy class-balanced sampler.

    While there is room every sample enters. Once full, a sample of class y enters only if y
    holds fewer than ⌊K/|classes in memory ∪ {y}|⌋ slots, evicting a uniformly random slot of
    the currently largest class (ties: smallest label). At task end it ranks randomly.
    """

    streaming = True

    def order(self, count, generator, features=None, limit=None):
        return torch.randperm(count, generator=generator)

    def assign(self, num_seen, batch_labels, store_labels, capacity, generator):
        labels = batch_labels.detach().cpu().numpy()
        uniforms = torch.rand(labels.size, generator=generator, dtype=torch.float64).numpy()
        return class_balanced_slots(labels, store_labels.detach().cpu().numpy(), capacity, uniforms)
