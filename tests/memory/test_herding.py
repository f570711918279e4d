import math

import torch

from retain.memory.policies import herding_order, herding_order_lucir


def random_features(n, d, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.nn.functional.normalize(torch.randn(n, d, generator=g), dim=1)


def slow_herding(features, m):
    """iCaRL Algorithm 4 written out plainly (spec §0.4)."""
    phi = features.double().tolist()
    n, d = len(phi), len(phi[0])
    mu = [sum(row[j] for row in phi) / n for j in range(d)]
    chosen, running = [], [0.0] * d
    for k in range(1, min(m, n) + 1):
        best, best_dist = None, math.inf
        for i in range(n):
            if i in chosen:
                continue
            dist = math.sqrt(sum((mu[j] - (phi[i][j] + running[j]) / k) ** 2 for j in range(d)))
            if dist < best_dist:
                best, best_dist = i, dist
        chosen.append(best)
        running = [running[j] + phi[best][j] for j in range(d)]
    return chosen


def test_matches_the_straightforward_implementation():
    for seed, (n, d, m) in enumerate([(30, 8, 30), (50, 16, 20), (40, 5, 12)]):
        features = random_features(n, d, seed)
        assert herding_order(features, m).tolist() == slow_herding(features, m)


def test_no_repeats_first_is_nearest_to_mean_and_prefix_property():
    features = random_features(60, 10, 3)
    order = herding_order(features, 60)
    assert sorted(order.tolist()) == list(range(60))
    mu = features.mean(0)  # not re-normalised
    assert order[0].item() == torch.argmin((features - mu).norm(dim=1)).item()
    for m in (1, 7, 33):
        assert torch.equal(herding_order(features, m), order[:m])


def test_m_larger_than_class_returns_every_sample():
    assert herding_order(random_features(5, 4, 0), 20).numel() == 5


def test_lucir_form_starts_from_mean_and_respects_limits():
    features = random_features(800, 16, 1)
    order = herding_order_lucir(features, 700)
    assert order.numel() <= 500 and torch.unique(order).numel() == order.numel()
    mu = features.mean(0)
    assert order[0].item() == torch.argmax(features @ mu).item()  # first step uses w = μ
    short = herding_order_lucir(features, 25)
    assert torch.equal(short, order[: short.numel()]) and short.numel() == 25


def test_lucir_gives_up_after_1000_steps():
    # Two clusters of duplicates: the iteration keeps hitting the same few points.
    base = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), dim=1)
    features = torch.cat([base[:1].repeat(50, 1), base[1:].repeat(50, 1)])
    order = herding_order_lucir(features, 100)
    assert 0 < order.numel() < 100
