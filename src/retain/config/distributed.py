"""The `distributed` section: one run on several processes (torch.distributed; docs/distributed.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from retain.config.strict import StrictSection


class DistributedConfig(StrictSection):
    """How many processes train one run, and how they talk.

    `nproc` > 1 splits every batch across that many ranks (`retain run --nproc N` sets it; under
    `torchrun` it is the world size). `backend`: gloo on CPU, NCCL on CUDA when `auto`.
    `sync_batchnorm` normalises BatchNorm over the global batch (CUDA only; otherwise each rank
    normalises its shard). `timeout_s`: how long a collective waits for a lost rank.
    """

    nproc: int = Field(1, ge=1, le=1024)
    backend: Literal["auto", "gloo", "nccl"] = "auto"
    sync_batchnorm: bool = False
    timeout_s: float = Field(300.0, gt=0, le=86400)
