"""train.threads sets torch's intra-op threads for a run (the small-batch rm-* MLP presets use 1)."""

import torch

from retain.runs.config import build_config
from retain.runs.loop import build_setup


def test_train_threads_sets_the_intra_op_threads():
    before = torch.get_num_threads()
    try:
        build_setup(build_config(preset="demo", overrides=["train.threads=1"]))
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    assert build_config(preset="demo").train.threads is None  # PyTorch's default unless asked
    assert build_config(preset="rm-fmnist-blurry10-online").train.threads == 1
