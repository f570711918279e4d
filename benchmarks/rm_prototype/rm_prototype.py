"""Ablation for issue 23: Rainbow Memory's 2048-wide "prototype" block, the one difference left
between retain's `method.variant: rm-code` rows and RM's iCaRL row (docs/methods/rainbow.md).

RM's iCaRL (`methods/icarl.py`, ICaRL.__init__ and ICaRLNet) replaces the MLP's classifier by a
`Linear(400 -> 2048)` with bias; that layer's output is the feature the NME classifies (normalised).
The logits are `fc(ReLU(BatchNorm1d(2048, momentum=0.01)(features)))` with `fc` a bias-free
`Linear(2048 -> classes)`. The optimiser holds the feature extractor only, so the BatchNorm's affine
parameters and `fc` keep their initialisation (the BatchNorm's running statistics still move).

Here: backbone `mlp-rm-prototype` (RM's MLP layers + that Linear) and method `icarl-rm-prototype`
(retain's iCaRL whose head is BatchNorm + ReLU + a bias-free growing Linear). With
`method.variant: rm-code` the head (BatchNorm included) stays out of the optimiser, as in RM.
Used by `benchmarks/rm_prototype/grid.yaml`; not part of the library.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from retain import register_backbone, register_method
from retain.methods.distillation import frozen_copy
from retain.methods.icarl import ICaRL
from retain.models import IncrementalLinear, IncrementalNet
from retain.models.mlp import MLP

FEATURE_SIZE = 2048  # RM's --feature_size default (main.py / configuration/config.py)


class PrototypeFeatures(nn.Module):
    """An MLP (RM's: bias-free Linear + BatchNorm(eps 1e-6) + ReLU per layer) and RM's `Linear(width -> 2048)`."""

    def __init__(self, in_features: int, hidden: Sequence[int], feature_size: int, batchnorm: bool, bias: bool,
                 bn_eps: float) -> None:
        super().__init__()
        self.mlp = MLP(in_features, hidden, batchnorm=batchnorm, bias=bias, bn_eps=bn_eps)
        self.fc = nn.Linear(self.mlp.out_dim, feature_size)
        self.out_dim = feature_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.mlp(x))


@register_backbone("mlp-rm-prototype")
def mlp_rm_prototype(in_channels: int, image_size: int, *, hidden: Sequence[int] = (400, 400),
                     batchnorm: bool = True, bias: bool = False, bn_eps: float = 1e-6,
                     feature_size: int = FEATURE_SIZE) -> nn.Module:
    """RM's MLP (the `mlp` backbone's options, RM's values by default) followed by its 2048-wide
    prototype Linear (the features iCaRL's NME reads)."""
    return PrototypeFeatures(in_channels * image_size * image_size, list(hidden), int(feature_size), bool(batchnorm),
                             bool(bias), float(bn_eps))


class PrototypeHead(nn.Module):
    """RM's ICaRLNet after the feature extractor: BatchNorm1d(momentum 0.01) + ReLU + bias-free Linear."""

    is_head = True

    def __init__(self, in_features: int, init: str) -> None:
        super().__init__()
        self.norm = nn.BatchNorm1d(in_features, momentum=0.01)
        self.linear = IncrementalLinear(in_features, 0, init=init, bias=False)

    @property
    def in_features(self) -> int:
        return self.linear.in_features

    @property
    def num_classes(self) -> int:
        return self.linear.num_classes

    @property
    def weight(self) -> torch.Tensor:
        return self.linear.weight

    def grow(self, n_new: int) -> None:
        self.linear.grow(n_new)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(torch.relu(self.norm(x)))


@register_method("icarl-rm-prototype")
class ICaRLPrototype(ICaRL):
    """iCaRL with RM's prototype block between the features and the classifier (see the module docstring)."""

    def build_network(self) -> nn.Module:
        backbone = self.ctx.build_backbone()
        return IncrementalNet(backbone, head=PrototypeHead(backbone.out_dim, self.ctx.config.model.head_init))


def _refresh_teacher(method: ICaRL, task) -> None:
    """RM's ICaRL.train computes its distillation targets q from the network at the start of every
    call, and an online task makes two calls (stream pass, memory epochs)."""
    if method.rm_code and task.index > 0:
        method.teacher = frozen_copy(method.network)


@register_method("icarl-rm-percall")
class ICaRLPerCall(ICaRL):
    """iCaRL rm-code whose teacher is the network at the start of each phase (RM's q per `train` call)."""

    def before_phase(self, task, phase) -> None:
        super().before_phase(task, phase)
        _refresh_teacher(self, task)


@register_method("icarl-rm-prototype-percall")
class ICaRLPrototypePerCall(ICaRLPrototype):
    """The prototype block and the per-call teacher together."""

    def before_phase(self, task, phase) -> None:
        super().before_phase(task, phase)
        _refresh_teacher(self, task)
