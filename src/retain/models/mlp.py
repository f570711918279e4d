"""Multi-layer perceptron over the flattened image (RM's MLP-400 on MNIST, with batchnorm)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class MLP(nn.Module):
    """Flatten, then for each hidden width: Linear [- BatchNorm1d] - ReLU. Features = last width.

    `last_relu=False` drops the last ReLU so features can be negative (LUCIR). `bias=False` builds
    the Linear layers without bias and `bn_eps` is the BatchNorm's ε (Rainbow Memory's FCBlock:
    no bias, ε = 1e-6).
    """

    def __init__(
        self, in_features: int, hidden: Sequence[int] = (400, 400), batchnorm: bool = False, last_relu: bool = True,
        bias: bool = True, bn_eps: float = 1e-5,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_features
        for i, out in enumerate(hidden):
            layers.append(nn.Linear(width, out, bias=bias))
            if batchnorm:
                layers.append(nn.BatchNorm1d(out, eps=bn_eps))
            if last_relu or i < len(hidden) - 1:
                layers.append(nn.ReLU(inplace=True))
            width = out
        self.layers = nn.Sequential(*layers)
        self.out_dim = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)
