"""Herding: rank a class's samples so that every prefix's mean feature tracks the class mean."""

from __future__ import annotations

import numpy as np
import torch

LUCIR_MAX_STEPS = 1000
LUCIR_MAX_PER_CLASS = 500


def herding_order(features: torch.Tensor, m: int) -> torch.Tensor:
    """iCaRL herding (spec §0.4): the first min(m, n) picks, in priority order.

    `features` are the class's L2-normalised features (n, d); μ is their plain mean (not
    re-normalised). Step k picks the unpicked i minimising ‖μ − (φ_i + Σ_{s<k} φ_{p_s})/k‖.
    Since ‖kμ − S − φ_i‖² = const − 2⟨kμ − S, φ_i⟩ + ‖φ_i‖², one matrix-vector product per
    step ranks all candidates. Computed in float64 so near-ties resolve like the plain formula.
    """
    phi = features.detach().to(torch.float64)
    count = min(int(m), phi.shape[0])
    mu = phi.mean(dim=0)
    sq_norms = (phi * phi).sum(dim=1)
    chosen = torch.zeros(phi.shape[0], dtype=torch.bool, device=phi.device)
    running = torch.zeros_like(mu)
    order = torch.empty(count, dtype=torch.int64, device=phi.device)
    for k in range(1, count + 1):
        target = k * mu - running
        cost = sq_norms - 2.0 * (phi @ target)
        cost = cost.masked_fill(chosen, float("inf"))
        pick = torch.argmin(cost)
        order[k - 1] = pick
        chosen[pick] = True
        running = running + phi[pick]
    return order


def herding_order_lucir(features: torch.Tensor, m: int) -> torch.Tensor:
    """LUCIR/MRDC herding (spec §0.4): w ← w + μ − φ_argmax⟨w,φ⟩ from w = μ, ranked by first hit.

    Stops after 1000 steps or once min(m, 500, n) distinct samples are ranked, whichever
    comes first, so it may return fewer than m.
    """
    # Host NumPy: up to 1000 tiny sequential steps, where per-op torch overhead would dominate.
    phi = features.detach().to("cpu", torch.float64).numpy()
    wanted = min(int(m), LUCIR_MAX_PER_CLASS, phi.shape[0])
    mu = phi.mean(axis=0)
    w = mu.copy()
    hit = np.zeros(phi.shape[0], dtype=bool)
    order: list[int] = []
    for _ in range(LUCIR_MAX_STEPS):
        if len(order) >= wanted:
            break
        pick = int(np.argmax(phi @ w))
        if not hit[pick]:
            hit[pick] = True
            order.append(pick)
        w = w + mu - phi[pick]
    return torch.tensor(order, dtype=torch.int64, device=features.device)
