"""Memorization scores by subsampling (spec §5.4) and MAER selecting from saved scores."""

import json

import numpy as np
import pytest
import torch

from retain.data import Dataset, ImageSplit, load_dataset
from retain.errors import ConfigError
from retain.runs.config import build_config
from retain.methods.memorization_scores import MemorizationSettings, memorization_scores, save_scores, stratified_half
from retain.runs.loop import build_setup


def test_stratified_half_takes_half_of_every_class():
    labels = np.repeat(np.arange(3), [10, 20, 4])
    mask = stratified_half(labels, 0.5, np.random.default_rng(0))
    assert [int(mask[labels == c].sum()) for c in range(3)] == [5, 10, 2]


def test_mislabelled_samples_score_higher_and_files_are_written(tmp_path):
    digits = load_dataset("digits")
    labels = digits.train.labels.clone()
    flipped = torch.arange(0, 60)
    labels[flipped] = (labels[flipped] + 1) % 10  # atypical samples: only memorised, never generalised
    dataset = Dataset(digits.name, ImageSplit(digits.train.images, labels), digits.test, digits.class_names, digits.mean, digits.std)
    settings = MemorizationSettings(dataset="digits", n_models=6, epochs=15, batch_size=32, lr=0.05,
                                    options={"hidden": [128]}, seed=1)
    scores = memorization_scores(settings, dataset, log=lambda _: None)
    assert scores.shape == (labels.numel(),)
    finite = ~np.isnan(scores)
    assert np.nanmean(scores[flipped.numpy()]) > np.nanmean(scores[60:][finite[60:]]) + 0.2
    npy, settings_json = save_scores(scores, settings, tmp_path / "digits_mem")
    assert np.array_equal(np.load(npy), scores, equal_nan=True)
    assert json.loads(settings_json.read_text())["dataset"] == "digits"


def test_bad_settings_are_refused():
    with pytest.raises(ConfigError, match="n_models"):
        MemorizationSettings(n_models=1).check()


def test_maer_selects_lowest_saved_scores_first(tmp_path):
    digits = load_dataset("digits")
    scores = np.random.default_rng(0).random(digits.train.labels.numel()).astype(np.float32)
    save_scores(scores, MemorizationSettings(dataset="digits"), tmp_path / "scores")
    config = build_config(preset="demo", overrides=["method.name=maer", "memory.budget=40 images",
                                                    f"method.scores_file={tmp_path / 'scores.npy'}"])
    method = build_setup(config).method
    task = build_setup(config).plan.tasks[0]
    ordered = method.memorization.ordered_candidates(task)
    assert sorted(ordered.tolist()) == sorted(task.train_indices.tolist())
    assert np.all(np.diff(scores[ordered.numpy()]) >= 0)
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, scores[:10])
    with pytest.raises(ConfigError, match="scores_file"):
        build_setup(build_config(preset="demo", overrides=["method.name=maer", "memory.budget=40 images",
                                                           f"method.scores_file={wrong}"]))
