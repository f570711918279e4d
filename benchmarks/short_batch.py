"""`python -m benchmarks.short_batch`: what an epoch's 2-row last batch does to EWC (README, "The last, short batch").

Digits, Blurry10-Online, MLP 400-400 with BatchNorm, EWC at Rainbow Memory's λ = 100 and lr 0.05,
batch 14: every memory-only epoch over the 100 exemplars ends in a 2-row batch. Three ways to
treat it: kept as PyTorch's DataLoader does (BatchNorm statistics updated), kept with the running
statistics frozen (`train.drop_last: false`), dropped (`auto`, the default with BatchNorm).
Prints EWC's largest Fisher entry over the run and the last accuracy (or where it diverged).
"""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path

import retain
import retain.engine.epoch as epoch
from retain.engine.trainer import TrainingDiverged
from retain.methods.ewc import EWC

OVERRIDES = dict(
    method={"name": "ewc"},
    scenario={"kind": "blurry", "blurry": 10, "num_tasks": 5, "order": "natural", "stream": "online"},
    model={"backbone": "mlp", "options": {"hidden": [400, 400], "batchnorm": True}},
    memory={"budget": "100 images"},
    augment={"normalize": True},
    seed=1,
)
TRAIN = {"epochs": 3, "batch_size": 14, "lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-4,
         "schedule": "warmup-cosine-restarts", "threads": 1}


def run_case(drop_last, statistics_move: bool) -> tuple[float, str]:
    """EWC's largest Fisher entry and the outcome, with the short batch treated as asked."""
    largest: list[float] = []
    importance, frozen = EWC.importance, epoch.batchnorm_statistics_frozen

    def recording(self, rows):
        fisher = importance(self, rows)
        largest.append(max(float(v.max()) for v in fisher.values()))
        return fisher

    EWC.importance = recording
    if statistics_move:  # the loop before train.drop_last existed
        epoch.batchnorm_statistics_frozen = lambda network, frozen=True: contextlib.nullcontext()
    try:
        with tempfile.TemporaryDirectory() as out:
            results = retain.run("demo", out=Path(out) / "run", train={**TRAIN, "drop_last": drop_last}, **OVERRIDES)
        outcome = f"last accuracy {results.stage_accuracy[-1]:.2f} %"
    except TrainingDiverged:
        outcome = f"diverged after {len(largest)} Fisher computations"
    finally:
        EWC.importance, epoch.batchnorm_statistics_frozen = importance, frozen
    return max(largest), outcome


def main() -> None:
    print("| the 2-row batch | largest Fisher entry | outcome |\n|---|---|---|")
    for label, drop_last, moves in (
        ("kept, BatchNorm statistics updated (before)", False, True),
        ("kept, statistics frozen (`drop_last: false`)", False, False),
        ("dropped (`drop_last: auto`)", "auto", False),
    ):
        fisher, outcome = run_case(drop_last, moves)
        print(f"| {label} | {fisher:.3g} | {outcome} |", flush=True)


if __name__ == "__main__":
    main()
