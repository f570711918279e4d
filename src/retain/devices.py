"""Moving host tensors to the training device without making the host wait for it."""

from __future__ import annotations

import torch


def to_device(tensor: torch.Tensor, device: torch.device | str) -> torch.Tensor:
    """`tensor` on `device`. A host tensor bound for a GPU is pinned and copied non-blocking:
    a plain `.to("cuda")` from pageable memory waits for every kernel queued before it (a
    host synchronisation per step when done in the training loop). Other moves are `.to`."""
    device = torch.device(device)
    if device.type == "cuda" and tensor.device.type == "cpu":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)
