"""retain.devices.to_device: host tensors reach a GPU pinned and without blocking the host."""

from __future__ import annotations

import torch

from retain.devices import to_device


def test_cpu_target_is_a_plain_move():
    values = torch.arange(5)
    assert to_device(values, "cpu") is values


def test_host_tensor_bound_for_cuda_is_pinned_and_copied_non_blocking(monkeypatch):
    # No GPU here: record what the CUDA branch asks torch to do instead of doing it.
    calls = []
    monkeypatch.setattr(torch.Tensor, "pin_memory", lambda self: calls.append("pin") or self)
    monkeypatch.setattr(torch.Tensor, "to", lambda self, *args, **kwargs: calls.append((args, kwargs)) or self)
    to_device(torch.arange(3), "cuda")
    assert calls == ["pin", ((torch.device("cuda"),), {"non_blocking": True})]
