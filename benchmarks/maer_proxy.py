"""Is MAER's memorization proxy informative? Its order against true (Feldman–Zhang) scores.

    python -m benchmarks.maer_proxy [--models 16] [--score-seeds 0 16] [--preset maer-fmnist] [--seed 1] [--budget 200] [--set KEY=VALUE ...]

Runs the preset once (one torch thread) and records, at each task end just before MAER's
rewrite, the proxy's ordered list (spec §5.3: a task's samples that are correct at their last
visit, in the order they became and stayed correct). Against true scores (`retain memorization`
with `--models` networks and the first of `--score-seeds`, read from
runs/memorization/<dataset>-m<models>-s<seed>.npy, computed there first when missing, as
`retain memorization --models 16 --seed 0 --out runs/memorization/fashion-mnist-m16-s0.npy`
writes it) it prints per task, averaged over the task's classes:

* `listed`: the share of the task's samples on the list; `unlisted mem`/`listed mem`: the mean
  true score of the samples off and on it;
* `spearman`: rank correlation of list position and true score among the listed samples of a class;
* `min`/`middle`/`max mem`: the mean true score of the samples each MAER selection takes at the
  quota ⌊K/t⌋ split over the task's classes (K = `--budget`), as the rewrite takes them;
* `last epoch`: the share of listed samples stamped in the task's last epoch (wrong at an earlier
  visit; with E epochs each sample is seen E times, so the proxy has E levels of "when", and inside
  a level its order is the order of the visits, a shuffle);
* `min ∩ true-min`: the share of the min selection that is also among the class's lowest true
  scores of the same size (chance: quota / listed).

`--selections N` trains nothing: it selects N samples per class by the first estimate (as
`method.scores_file` does) and prints the picks' mean score in both estimates: a selection that
the noise of the estimate made (its picks regress to the mean in the second one) shows there.

A second score seed (independent splits and networks: seeds s..s+models−1 each) adds
`split-half`: the rank correlation of the two estimates over each class, which says how much of
the estimate is noise (a perfect proxy could correlate with one estimate by at most about its
square root). Figures are results, not timings.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

from retain.data import load_dataset
from retain.launch import launch as run
from retain.memory.policies.maer import maer_quotas, select_positions
from retain.methods.memorization_proxy import MemorizationSelection
from retain.methods.memorization_scores import MemorizationSettings, memorization_scores, save_scores
from retain.runs.config import build_config


def record_proxy_lists(config) -> list[tuple[list[int], np.ndarray, np.ndarray, int]]:
    """(classes, proxy-ordered dataset indices, their stamps' iterations, the task's iterations) of
    every task, taken just before the task-end rewrite."""
    lists = []
    original = MemorizationSelection.rewrite_task_slots

    def recording(self, method, task):  # analysis only: read the list, then rewrite as usual
        order, stamps = self.proxy.ordered()
        lists.append((sorted(int(c) for c in task.new_classes), order.cpu().numpy(), stamps.cpu().numpy(), self.proxy.iteration))
        return original(self, method, task)

    MemorizationSelection.rewrite_task_slots = recording
    try:
        with tempfile.TemporaryDirectory() as folder:
            run(config, out=f"{folder}/run")
    finally:
        MemorizationSelection.rewrite_task_slots = original
    return lists


def true_scores(dataset: str, models: int, seed: int, folder: Path = Path("runs/memorization")) -> np.ndarray:
    """`retain memorization --models M --seed S` scores of `dataset` (the defaults otherwise), cached in `folder`."""
    path = folder / f"{dataset}-m{models}-s{seed}.npy"
    settings = MemorizationSettings(dataset=dataset, n_models=models, seed=seed)
    saved = json.loads(path.with_suffix(".json").read_text()) if path.with_suffix(".json").exists() else {}
    wanted = {"dataset": dataset, "n_models": models, "seed": seed, "epochs": settings.epochs, "backbone": settings.backbone}
    if not path.exists() or any(saved.get(key) != value for key, value in wanted.items()):
        save_scores(memorization_scores(settings), settings, path)
    return np.load(path)


def class_figures(order: np.ndarray, members: np.ndarray, scores: np.ndarray, quota: int, second) -> dict[str, float]:
    """The figures of one class: `order` its listed samples in proxy order, `members` all its samples."""
    listed = scores[order]
    unlisted = scores[np.setdiff1d(members, order)]
    row = {"listed": order.size / members.size, "listed mem": float(np.nanmean(listed)),
           "unlisted mem": float(np.nanmean(unlisted)) if unlisted.size else float("nan"),
           "spearman": float(spearmanr(np.arange(order.size), listed, nan_policy="omit")[0])}
    for how in ("min", "middle", "max"):
        row[f"{how} mem"] = float(np.nanmean(listed[select_positions(order.size, quota, how)]))
    taken = set(order[select_positions(order.size, quota, "min")].tolist())
    lowest = set(order[np.argsort(listed, kind="stable")[:len(taken)]].tolist())
    row["min ∩ true-min"] = len(taken & lowest) / max(len(taken), 1)
    row["chance"] = len(taken) / max(order.size, 1)
    if second is not None:
        row["split-half"] = float(spearmanr(scores[members], second[members], nan_policy="omit")[0])
    return row


def score_selections(scores: np.ndarray, second: np.ndarray, targets: np.ndarray, per_class: int) -> None:
    """Print what selecting by the saved scores (`method.scores_file`: every sample of a class, by
    score) takes at `per_class` picks: the picks' mean score in this estimate, in the independent
    second one, and the mean |score| there (near 0: a sample every network gets right or wrong alike)."""
    print(f"selection by the first estimate, {per_class} per class, mean over the classes:")
    print(f"{'selection':>10}  {'first':>10}  {'second':>10}  {'|second|':>10}")
    for how in ("min", "middle", "max"):
        figures = []
        for c in np.unique(targets):
            members = np.flatnonzero(targets == c)
            order = members[np.argsort(scores[members], kind="stable")]  # NaN last, as the saved-score order
            picks = order[select_positions(order.size, per_class, how)]
            figures.append((np.nanmean(scores[picks]), np.nanmean(second[picks]), np.nanmean(np.abs(second[picks]))))
        print(f"{how:>10}  " + "  ".join(f"{v:>10.3f}" for v in np.mean(figures, axis=0)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=16, help="networks of each true-score estimate")
    parser.add_argument("--score-seeds", type=int, nargs="+", default=[0, 16], help="one estimate per seed; a second gives split-half")
    parser.add_argument("--preset", default="maer-fmnist")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--budget", type=int, default=200, help="K in images: the selections' quotas")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--selections", type=int, default=None, metavar="N",
                        help="train nothing: what selecting N per class by the first estimate takes, read in the second")
    args = parser.parse_args()
    torch.set_num_threads(1)
    overrides = ["train.threads=1", f"memory.budget={args.budget} images", *args.overrides]
    config = build_config(preset=args.preset, overrides=overrides, seed=args.seed)
    estimates = [true_scores(config.data.name, args.models, seed) for seed in args.score_seeds[:2]]
    scores, second = estimates[0], (estimates[1] if len(estimates) > 1 else None)
    targets = load_dataset(config.data.name).train.labels.cpu().numpy()  # in the order of the scores
    if args.selections is not None:
        if second is None:
            parser.error("--selections reads the picks in a second estimate: give two --score-seeds")
        score_selections(scores, second, targets, args.selections)
        return
    lists = record_proxy_lists(config)
    rows = []
    for t, (classes, order, stamps, iterations) in enumerate(lists):
        epochs = config.train.first_epochs if t == 0 and config.train.first_epochs else config.train.epochs
        late = {c: float(np.mean(stamps[targets[order] == c] >= iterations * (epochs - 1) / epochs)) for c in classes}
        quotas = maer_quotas(args.budget, t + 1, classes)
        per_class = [class_figures(order[targets[order] == c], np.flatnonzero(targets == c), scores, quotas[c], second)
                     for c in classes]
        for row, c in zip(per_class, classes):
            row["last epoch"] = late[c]
        rows.append((t + 1, {key: float(np.nanmean([r[key] for r in per_class])) for key in per_class[0]}))
    keys = list(rows[0][1])
    print(f"{args.preset} seed {args.seed}, K = {args.budget}, {config.train.epochs} epochs: per task, mean over its classes")
    print("task  " + "  ".join(f"{k:>14}" for k in keys))
    for t, row in rows:
        print(f"{t:>4}  " + "  ".join(f"{row[k]:>14.3f}" for k in keys))
    print("mean  " + "  ".join(f"{np.nanmean([row[k] for _, row in rows]):>14.3f}" for k in keys))


if __name__ == "__main__":
    main()
