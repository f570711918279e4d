"""benchmarks/maer_proxy.py: the figures that say whether MAER's proxy order follows true memorization."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root holds benchmarks/

from benchmarks.maer_proxy import class_figures  # noqa: E402


def test_a_proxy_that_follows_the_scores_scores_one_and_a_shuffle_scores_chance():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=1000)
    members = np.arange(1000)
    listed = members[:900]  # the last 100 never stayed correct
    faithful = class_figures(listed[np.argsort(scores[listed])], members, scores, 50, second=scores)
    assert faithful["spearman"] > 0.999 and faithful["min ∩ true-min"] == 1.0 and faithful["split-half"] > 0.999
    assert faithful["min mem"] < faithful["middle mem"] < faithful["max mem"]
    assert faithful["listed"] == 0.9 and faithful["chance"] == 50 / 900
    shuffled = class_figures(rng.permutation(listed), members, scores, 50, second=None)
    assert abs(shuffled["spearman"]) < 0.1 and shuffled["min ∩ true-min"] < 0.2 and "split-half" not in shuffled
    assert abs(shuffled["min mem"] - shuffled["max mem"]) < 0.5  # both near the mean of a random draw


def test_selections_read_in_a_second_estimate_show_the_noise_of_the_first(capsys):
    from benchmarks.maer_proxy import score_selections

    rng = np.random.default_rng(1)
    truth = rng.normal(size=2000)
    targets = np.repeat([0, 1], 1000)
    first, second = truth + rng.normal(scale=3.0, size=2000), truth + rng.normal(scale=3.0, size=2000)
    score_selections(first, second, targets, 50)
    rows = {line.split()[0]: [float(v) for v in line.split()[1:]] for line in capsys.readouterr().out.splitlines()[2:]}
    assert rows["min"][0] < rows["middle"][0] < rows["max"][0]
    # Mostly noise: the picks regress towards the mean in the independent estimate.
    assert abs(rows["min"][1]) < abs(rows["min"][0]) / 2 and abs(rows["max"][1]) < rows["max"][0] / 2
