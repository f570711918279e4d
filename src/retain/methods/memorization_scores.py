"""Feldman–Zhang memorization scores by subsampling (spec §5.4), as a cheap analysis tool.

Each of `n_models` networks trains on a stratified random half of the training split; for
every training sample i, mem(i) = E[p(y_i | x_i) | i in the half] − E[p(y_i | x_i) | i not in
it], with p the softmax under the evaluation transform. The reference trains 250 ResNet-18s;
the defaults here (8 MLPs, a few epochs) give a noisy but usable estimate in minutes.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from retain.augment import AugmentConfig, Augmenter
from retain.data import Dataset, load_dataset
from retain.engine.device import resolve_device
from retain.engine.optim import EagerSGD
from retain.errors import ConfigError
from retain.files import atomic_write, atomic_write_text
from retain.models import IncrementalNet, build_backbone


@dataclass
class MemorizationSettings:
    """What the estimator trains: `n_models` networks on `fraction` of the data each."""

    dataset: str = "fashion-mnist"
    n_models: int = 8
    fraction: float = 0.5
    backbone: str = "mlp"
    options: dict = field(default_factory=lambda: {"hidden": [400, 400]})
    epochs: int = 5
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-6
    seed: int = 0
    device: str = "cpu"

    def check(self) -> None:
        if self.n_models < 2:
            raise ConfigError(f"n_models={self.n_models}: at least 2 models are needed (each sample must be in and out of some split).")
        if not 0 < self.fraction < 1:
            raise ConfigError(f"fraction={self.fraction} must lie strictly between 0 and 1 (the reference uses 0.5).")
        if self.epochs < 1 or self.batch_size < 1:
            raise ConfigError(f"epochs={self.epochs} and batch_size={self.batch_size} must both be at least 1.")
        if not 0 <= self.seed < 2**32 - self.n_models:
            raise ConfigError(f"--seed {self.seed}: the seed must be a whole number in 0..{2**32 - 1 - self.n_models}.")
        resolve_device(self.device, field="--device")


def stratified_half(labels: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Boolean mask choosing ⌊fraction·n_c⌉ samples of every class c at random."""
    chosen = np.zeros(labels.size, dtype=bool)
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        take = int(round(fraction * members.size))
        chosen[rng.choice(members, size=take, replace=False)] = True
    return chosen


def _train_one(settings: MemorizationSettings, images: torch.Tensor, labels: torch.Tensor, augmenter: Augmenter,
               num_classes: int, generator: torch.Generator) -> nn.Module:
    channels, size = images.shape[1], images.shape[2]
    network = IncrementalNet(build_backbone(settings.backbone, in_channels=channels, image_size=size, **settings.options))
    network.grow(num_classes)
    network.to(settings.device)
    optimizer = EagerSGD(network.parameters(), lr=settings.lr, momentum=settings.momentum, weight_decay=settings.weight_decay)
    # MultiStepLR at 70% and 90% of the epochs, as the reference's training script.
    milestones = sorted({max(1, int(0.7 * settings.epochs)), max(1, int(0.9 * settings.epochs))})
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=milestones, gamma=0.1)
    network.train()
    for _ in range(settings.epochs):
        order = torch.randperm(labels.numel(), generator=generator)
        for chunk in order.split(settings.batch_size):
            chunk = chunk.to(images.device)
            loss = F.cross_entropy(network(augmenter.train(images[chunk]))["logits"], labels[chunk])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        scheduler.step()
    return network


@torch.inference_mode()
def _true_class_probability(network: nn.Module, images: torch.Tensor, labels: torch.Tensor, augmenter: Augmenter,
                            batch_size: int = 2048) -> torch.Tensor:
    network.eval()
    parts = []
    for start in range(0, labels.numel(), batch_size):
        logits = network(augmenter.eval(images[start : start + batch_size]))["logits"]
        parts.append(F.softmax(logits.float(), dim=1).gather(1, labels[start : start + batch_size, None]).squeeze(1))
    return torch.cat(parts).cpu()


def memorization_scores(settings: MemorizationSettings, dataset: Dataset | None = None, log=print) -> np.ndarray:
    """One memorization score per training sample (dataset order); NaN where a sample was
    never (or always) in a model's training half."""
    settings.check()
    dataset = dataset or load_dataset(settings.dataset)
    images = dataset.train.images.to(settings.device)
    labels = dataset.train.labels.to(settings.device)
    augmenter = Augmenter(AugmentConfig(normalize=True), dataset.mean, dataset.std, device=settings.device, seed=settings.seed)
    host_labels = labels.cpu().numpy()
    inside = np.zeros(labels.numel())
    outside = np.zeros(labels.numel())
    n_in = np.zeros(labels.numel())
    for r in range(settings.n_models):
        torch.manual_seed(settings.seed + r)
        mask = stratified_half(host_labels, settings.fraction, np.random.default_rng(settings.seed + r))
        picked = torch.from_numpy(np.flatnonzero(mask)).to(settings.device)
        network = _train_one(settings, images[picked], labels[picked], augmenter, dataset.num_classes,
                             torch.Generator().manual_seed(settings.seed + r))
        probability = _true_class_probability(network, images, labels, augmenter).numpy()
        inside += np.where(mask, probability, 0.0)
        outside += np.where(mask, 0.0, probability)
        n_in += mask
        log(f"memorization: model {r + 1}/{settings.n_models} trained on {int(mask.sum())} samples")
    n_out = settings.n_models - n_in
    with np.errstate(invalid="ignore", divide="ignore"):
        scores = np.where((n_in > 0) & (n_out > 0), inside / n_in - outside / n_out, np.nan)
    return scores.astype(np.float32)


def check_scores_path(path: str | Path) -> Path:
    """The .npy path the scores will be written to, checked before any training: its folder can be
    made and written, and neither it nor its .json is a folder."""
    path = Path(path).with_suffix(".npy")
    for target in (path, path.with_suffix(".json")):
        if target.is_dir():
            raise ConfigError(f"--out {str(target)!r} is a directory; give the path of a .npy file to write the scores to.")
    path.parent.mkdir(parents=True, exist_ok=True)  # an OSError here is reported by the CLI with the path
    if not os.access(path.parent, os.W_OK):
        raise ConfigError(f"--out {str(path)!r}: the folder {str(path.parent)!r} is not writable; choose another --out.")
    return path


def save_scores(scores: np.ndarray, settings: MemorizationSettings, path: str | Path) -> tuple[Path, Path]:
    """Write `path` (.npy, one score per training sample) and its settings as `path` .json, each atomically."""
    path = check_scores_path(path)
    atomic_write(path, lambda handle: np.save(handle, scores), binary=True)
    settings_path = path.with_suffix(".json")
    summary = {**asdict(settings), "num_samples": int(scores.size), "undefined": int(np.isnan(scores).sum()),
               "mean": float(np.nanmean(scores)) if scores.size else 0.0}
    atomic_write_text(settings_path, json.dumps(summary, indent=2) + "\n")
    return path, settings_path
