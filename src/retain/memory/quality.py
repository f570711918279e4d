"""MRDC's quality criterion (spec §1.5): log-volumes of feature sets, R_q and the quality search.

Under an L-ensemble DPP with kernel L = M Mᵀ the likelihood of a set is ∝ det(L) = Vol², so
the log-volume of a class's exemplar features measures their diversity. For a candidate JPEG
quality q, R_q compares the log-volume of the compressed exemplars with that of the same
exemplars uncompressed; the lowest q whose R_q stays within a tolerance of 1 is chosen.
This module knows nothing about models: features and herding come in as callables.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Literal

import torch

from retain.budget.capacity import per_class_capacity
from retain.memory.codecs import Codec

Gram = Literal["rows", "columns", "auto"]
DEFAULT_GRID: tuple[int, ...] = (90, 80, 70, 60, 50, 40, 30, 20, 10)
DEFAULT_TOLERANCE = 0.05
DEFAULT_RIDGE = 1e-6
CODE_SKIP_BELOW = -500.0  # the official script leaves classes with log Vol ≤ −500 out


def log_volume(features: torch.Tensor, ridge: float = 0.0, gram: Gram = "rows", normalize: bool = True) -> float:
    """½·log det(M Mᵀ + ridge·I) of the feature rows M (L2-normalised first), in float64.

    `gram="columns"` uses Mᵀ M (d×d) instead: the same non-zero spectrum, so for N > d it gives
    a finite volume without the (N − d)·log(ridge) term that M Mᵀ + ridge·I adds; "auto" picks
    the smaller of the two. Returns −inf when the matrix is singular (ridge 0).
    """
    m = features.detach().to("cpu", torch.float64)
    if m.dim() != 2 or m.shape[0] == 0:
        raise ValueError(f"log_volume needs a non-empty (N, d) matrix, got shape {tuple(m.shape)}")
    if normalize:
        m = torch.nn.functional.normalize(m, dim=1)
    if gram == "auto":
        gram = "rows" if m.shape[0] <= m.shape[1] else "columns"
    kernel = m @ m.T if gram == "rows" else m.T @ m
    # Eigenvalues of the symmetric PSD kernel; round-off turns exact zeros into ±1e-17, so
    # anything below numpy's matrix-rank tolerance counts as zero (singular: −inf without ridge).
    eigenvalues = torch.linalg.eigvalsh(kernel)
    rank_tolerance = float(eigenvalues.abs().max()) * kernel.shape[0] * torch.finfo(torch.float64).eps
    eigenvalues = torch.where(eigenvalues > rank_tolerance, eigenvalues, torch.zeros_like(eigenvalues)) + ridge
    if bool((eigenvalues <= 0).any()):
        return -math.inf
    return 0.5 * float(torch.log(eigenvalues).sum())


def mean_log_volume(per_class: Sequence[float], skip_below: float | None = None) -> float:
    """Average of per-class log-volumes; with `skip_below` (code mode: −500) classes at or
    below it are left out. NaN when no class is left."""
    kept = [v for v in per_class if skip_below is None or v > skip_below]
    return sum(kept) / len(kept) if kept else math.nan


def volume_ratio(compressed: float, original: float) -> float:
    """R_q = log Vol(M^c_q) / log Vol(M*_q); 1 when both are 0 (a single exemplar)."""
    if original == 0.0:
        return 1.0 if compressed == 0.0 else math.inf
    return compressed / original


def passes(ratio: float, tolerance: float) -> bool:
    """|R_q − 1| < tolerance (NaN and ±inf fail)."""
    return math.isfinite(ratio) and abs(ratio - 1.0) < tolerance


def select_quality(ratios: Mapping[int, float], tolerance: float = DEFAULT_TOLERANCE) -> int | None:
    """Scan qualities from high to low and return the last one before the first failing q
    (|R_q − 1| ≥ tolerance); None when the highest quality already fails."""
    chosen = None
    for q in sorted(ratios, reverse=True):
        if not passes(ratios[q], tolerance):
            break
        chosen = q
    return chosen


@dataclass
class GridPoint:
    """The criterion at one quality: R_q, N_q per class and the bytes the memory would hold."""

    q: int
    R_q: float
    N_q: int
    bytes: int                     # projected: N_q per seen class at the mean size, + header
    bytes_per_image: float         # mean encoded size of the task's candidates
    log_volume_compressed: float
    log_volume_original: float
    passes: bool

    def to_dict(self) -> dict[str, float | int | bool]:
        return asdict(self)


FeaturesFn = Callable[[torch.Tensor], torch.Tensor]       # uint8 images -> features (N, d)
RankFn = Callable[[torch.Tensor, int], torch.Tensor]      # features, m -> priority order


@dataclass
class QualitySearch:
    """Settings of the Rq search (spec §1.5).

    `select_on="original"` is the paper's version: the N_q exemplars are herded on the original
    images and then compressed. `"compressed"` is the official script's: each side herds its
    own N_q on its own images. `gram`/`ridge` make N_q > d work (see `log_volume`).
    """

    grid: Sequence[int] = DEFAULT_GRID
    tolerance: float = DEFAULT_TOLERANCE
    ridge: float = DEFAULT_RIDGE
    gram: Gram = "auto"
    select_on: Literal["original", "compressed"] = "original"
    skip_below: float | None = None

    def run(
        self,
        candidates: Mapping[int, torch.Tensor],
        features_fn: FeaturesFn,
        rank_fn: RankFn,
        make_codec: Callable[[int], Codec],
        room_bytes: int,
        num_classes: int,
    ) -> tuple[list[GridPoint], int | None]:
        """Evaluate every grid quality on the task's `candidates` (uint8 images by class) and
        return the grid points (high to low q) and the chosen quality (None if none passes).

        N_q = ⌊(room − header) / num_classes / mean encoded bytes⌋, so N_q rows per class at
        the mean size always fit `room_bytes` (the actual memory is filled by real sizes).
        """
        original = {c: features_fn(images) for c, images in candidates.items()}
        qualities = sorted(self.grid, reverse=True)
        codecs = {q: make_codec(q) for q in qualities}
        sizing: dict[int, tuple[float, int]] = {}
        for q in qualities:
            # Sizes only; the few rows needed for the volumes are encoded again (deterministic).
            sizes = [codecs[q].row_bytes(r) for images in candidates.values() for r in codecs[q].encode(images)]
            mean_bytes = sum(sizes) / len(sizes)
            header = len(codecs[q].header)
            sizing[q] = (mean_bytes, per_class_capacity(max(room_bytes - header, 0), mean_bytes, num_classes))
        # Herding orders are prefix-consistent: rank the originals once for the largest N_q.
        largest = max(n for _, n in sizing.values())
        original_orders = {c: rank_fn(f, largest) for c, f in original.items()} if largest > 0 else {}
        points: list[GridPoint] = []
        for q in qualities:
            mean_bytes, n_q = sizing[q]
            header = len(codecs[q].header)
            vol_c, vol_o = self._volumes(candidates, original, original_orders, codecs[q], features_fn, rank_fn, n_q)
            ratio = volume_ratio(vol_c, vol_o) if n_q > 0 else math.nan
            points.append(GridPoint(
                q=q, R_q=ratio, N_q=n_q, bytes=int(math.ceil(n_q * num_classes * mean_bytes)) + header,
                bytes_per_image=mean_bytes, log_volume_compressed=vol_c, log_volume_original=vol_o,
                passes=passes(ratio, self.tolerance),
            ))
        return points, select_quality({p.q: p.R_q for p in points}, self.tolerance)

    def _volumes(self, candidates, original, original_orders, codec, features_fn, rank_fn, n_q) -> tuple[float, float]:
        if n_q < 1:
            return math.nan, math.nan
        per_class_c, per_class_o = [], []
        for c, images in candidates.items():
            channels = images.shape[1]
            chosen = original_orders[c][:n_q]
            chosen_original = original[c][chosen.to(original[c].device)]
            if self.select_on == "original":
                picked = images.index_select(0, chosen.to(images.device))
                compressed = features_fn(codec.decode(codec.encode(picked), channels).to(images.device))
            else:
                all_compressed = features_fn(codec.decode(codec.encode(images), channels).to(images.device))
                compressed = all_compressed[rank_fn(all_compressed, n_q).to(all_compressed.device)]
            per_class_c.append(log_volume(compressed, self.ridge, self.gram))
            per_class_o.append(log_volume(chosen_original, self.ridge, self.gram))
        return mean_log_volume(per_class_c, self.skip_below), mean_log_volume(per_class_o, self.skip_below)
