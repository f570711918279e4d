"""MRDC's quality criterion: log-volumes (spec §10.1 item 3), the selector (item 4), the search."""

import math

import pytest
import torch

from retain.budget import raw_image_bytes
from retain.memory import JpegCodec, herding_order_lucir
from retain.memory.quality import (
    QualitySearch,
    log_volume,
    mean_log_volume,
    passes,
    select_quality,
    volume_ratio,
)


def test_orthonormal_rows_have_log_volume_zero():
    assert log_volume(torch.eye(3)) == pytest.approx(0.0, abs=1e-12)
    assert log_volume(torch.eye(5)[:3]) == pytest.approx(0.0, abs=1e-12)


def test_two_rows_at_an_angle_have_volume_sin():
    theta = 0.3
    m = torch.tensor([[1.0, 0.0], [math.cos(theta), math.sin(theta)]], dtype=torch.float64)
    # det(M Mᵀ) = 1 − cos²θ, so ½·log det = log sin θ.
    assert log_volume(m) == pytest.approx(math.log(math.sin(theta)), rel=1e-9)


def test_rows_are_normalised_first():
    m = torch.tensor([[3.0, 0.0], [0.0, 0.5]])
    assert log_volume(m) == pytest.approx(0.0, abs=1e-12)
    assert log_volume(m, normalize=False) == pytest.approx(math.log(1.5), rel=1e-9)


def test_duplicated_row_is_minus_infinity_without_ridge_and_finite_with():
    m = torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    assert log_volume(m) == -math.inf
    ridged = log_volume(m, ridge=1e-6)
    assert math.isfinite(ridged)
    # Eigenvalues of M Mᵀ are {2, 1, 0}: ½·log((2+ε)(1+ε)ε).
    assert ridged == pytest.approx(0.5 * math.log(2 * 1 * 1e-6), rel=1e-5)


def test_more_rows_than_columns_needs_the_ridge():
    m = torch.randn(65, 64, generator=torch.Generator().manual_seed(0))
    assert log_volume(m) == -math.inf
    assert math.isfinite(log_volume(m, ridge=1e-6))
    # The d×d Gram has the same non-zero spectrum and is full rank: finite without a ridge.
    columns = log_volume(m, gram="columns")
    assert math.isfinite(columns)
    assert log_volume(m, gram="auto") == pytest.approx(columns)
    # M Mᵀ + εI adds (N − d)·½·log ε to the column form (up to O(ε)).
    assert log_volume(m, ridge=1e-6) == pytest.approx(columns + 0.5 * math.log(1e-6), rel=1e-4)


def test_auto_uses_rows_when_there_are_fewer_rows_than_columns():
    m = torch.randn(5, 8, generator=torch.Generator().manual_seed(1))
    assert log_volume(m, gram="auto") == pytest.approx(log_volume(m, gram="rows"))
    assert log_volume(m, gram="columns") == -math.inf


def test_code_mode_skips_classes_at_or_below_minus_500():
    assert mean_log_volume([-10.0, -600.0, -500.0, -20.0], skip_below=-500) == pytest.approx(-15.0)
    assert mean_log_volume([-10.0, -600.0]) == pytest.approx(-305.0)
    assert math.isnan(mean_log_volume([-600.0], skip_below=-500))


def test_volume_ratio_and_tolerance():
    assert volume_ratio(-10.5, -10.0) == pytest.approx(1.05)
    assert volume_ratio(0.0, 0.0) == 1.0
    assert passes(1.04, 0.05) and passes(0.96, 0.05)
    assert not passes(1.05, 0.05) and not passes(math.nan, 0.05) and not passes(math.inf, 0.05)


def test_selector_stops_at_the_first_failing_quality():
    ratios = {90: 1.01, 80: 1.02, 70: 1.04, 60: 1.20, 50: 1.01}
    assert select_quality(ratios, tolerance=0.05) == 70  # 50 would pass, but the scan stopped at 60
    assert select_quality({50: 1.0, 90: 1.0, 10: 1.0}, tolerance=0.05) == 10
    assert select_quality({90: 0.9, 80: 1.0}, tolerance=0.05) is None


def _smooth_images(n: int, seed: int, offset: float) -> torch.Tensor:
    """Gray 16×16 gradients with a little noise: compressible, distinct per sample."""
    g = torch.Generator().manual_seed(seed)
    ramp = torch.linspace(0, 1, 16)
    base = ramp[None, :] * torch.rand(n, 1, 1, generator=g) + ramp[:, None] * torch.rand(n, 1, 1, generator=g)
    images = 60 + offset + 80 * base + 6 * torch.randn(n, 16, 16, generator=g)
    return images.clamp(0, 255).to(torch.uint8).unsqueeze(1)


def _features(images: torch.Tensor) -> torch.Tensor:
    # Coarse 4×4 average pools centred per image: a stand-in for a network's features.
    x = torch.nn.functional.avg_pool2d(images.float(), 4).flatten(1)
    return x - x.mean(dim=1, keepdim=True)


def test_search_logs_every_quality_and_never_breaks_the_budget():
    candidates = {0: _smooth_images(60, 0, 0.0), 1: _smooth_images(60, 1, 40.0)}
    room = 2 * 20 * raw_image_bytes((1, 16, 16))  # "20 raw images per class"
    search = QualitySearch(grid=(90, 70, 50, 30, 10), tolerance=0.05)
    points, chosen = search.run(
        candidates, _features, herding_order_lucir, lambda q: JpegCodec(q, shared_header=True), room, num_classes=2
    )
    assert [p.q for p in points] == [90, 70, 50, 30, 10]
    for p in points:
        assert p.N_q >= 20  # compression never stores fewer than the raw count
        assert p.bytes <= room
        assert p.N_q * 2 * p.bytes_per_image <= room
        assert p.R_q == pytest.approx(p.log_volume_compressed / p.log_volume_original)
        assert p.passes == (abs(p.R_q - 1) < 0.05)
    counts = [p.N_q for p in points]
    assert counts == sorted(counts)  # lower quality, smaller files, more exemplars
    assert counts[-1] > counts[0]
    assert chosen is not None  # the two smooth classes keep their volume at q = 90 at least
    prefix = [p for p in points if p.q >= chosen]
    assert all(p.passes for p in prefix)
    after = [p for p in points if p.q < chosen]
    assert not after or not after[0].passes


def test_search_at_near_lossless_quality_keeps_the_volume():
    candidates = {0: _smooth_images(40, 2, 0.0)}
    room = 10 * raw_image_bytes((1, 16, 16))
    search = QualitySearch(grid=(100, 5), tolerance=0.05, select_on="original")
    points, chosen = search.run(candidates, _features, herding_order_lucir, lambda q: JpegCodec(q), room, num_classes=1)
    best = points[0]
    assert best.q == 100 and best.passes and abs(best.R_q - 1) < 0.05
    assert chosen in (100, 5)


def test_code_version_herds_on_compressed_features():
    candidates = {0: _smooth_images(40, 3, 0.0)}
    room = 10 * raw_image_bytes((1, 16, 16))
    seen = []

    def rank(features, m):
        seen.append(features.shape[0])
        return herding_order_lucir(features, m)

    QualitySearch(grid=(80, 40), select_on="compressed").run(candidates, _features, rank, lambda q: JpegCodec(q), room, 1)
    # Once on the originals, then once per quality on all compressed candidates.
    assert seen == [40, 40, 40]
