"""A memory policy as a retain plugin: greedy k-center ("farthest first") exemplar selection.

Each next exemplar of a class is the candidate farthest (in feature space) from the exemplars
already chosen, so the memory covers the class's spread instead of its mean (herding).
"""

from __future__ import annotations

import torch

from retain import MemoryPolicy, register_policy


@register_policy("kcenter")
class KCenterPolicy(MemoryPolicy):
    """Greedy k-center on features: a random first exemplar, then always the farthest candidate."""

    needs_features = True  # `order` receives the candidates' L2-normalised features

    def order(self, count: int, generator: torch.Generator | None, features: torch.Tensor | None = None,
              limit: int | None = None) -> torch.Tensor:
        if features is None:
            raise ValueError("kcenter needs the candidates' features")
        wanted = count if limit is None else min(limit, count)
        points = features.float()
        first = int(torch.randint(count, (1,), generator=generator))
        chosen = [first]
        distance = (points - points[first]).square().sum(dim=1)
        distance[first] = -1.0  # never chosen again
        for _ in range(wanted - 1):
            nearest = int(distance.argmax())
            chosen.append(nearest)
            distance = torch.minimum(distance, (points - points[nearest]).square().sum(dim=1))
            distance[chosen] = -1.0
        return torch.tensor(chosen, dtype=torch.long)
